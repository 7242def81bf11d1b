//! OpenTelemetry traces: spans of `tracing` exported over OTLP/gRPC to any
//! collector (Jaeger's OTLP port), with W3C trace context carried across
//! rtdw's gRPC calls so that one submission, or one deployment, is one trace
//! across processes.

use opentelemetry::KeyValue;
use opentelemetry::global;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The standard variable naming the OTLP endpoint.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Why traces could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot export traces to {endpoint}: {message}")]
pub struct TraceSetupError {
    endpoint: String,
    message: String,
}

/// The exporting tracer provider of a process; flushes on shutdown.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Exports spans to `endpoint` (else `OTEL_EXPORTER_OTLP_ENDPOINT`);
    /// `None` when neither is set. `service` is the `service.name`,
    /// `attributes` further resource attributes.
    pub fn start(
        endpoint: Option<&str>,
        headers: &[(String, String)],
        service: &'static str,
        attributes: Vec<(&'static str, String)>,
    ) -> Result<Option<Traces>, TraceSetupError> {
        let endpoint = match endpoint
            .map(str::to_string)
            .or_else(|| std::env::var(OTLP_ENDPOINT_ENV).ok())
        {
            Some(e) if !e.trim().is_empty() => e,
            _ => return Ok(None),
        };
        let mut metadata = MetadataMap::new();
        for (name, value) in headers {
            let key = MetadataKey::from_bytes(name.as_bytes()).map_err(|_| TraceSetupError {
                endpoint: endpoint.clone(),
                message: format!("'{name}' is not a valid header name"),
            })?;
            // The value is a secret: the error names the header, never the value.
            let value = MetadataValue::try_from(value.as_str()).map_err(|_| TraceSetupError {
                endpoint: endpoint.clone(),
                message: format!("the value of header '{name}' is not valid in a header"),
            })?;
            metadata.insert(key, value);
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .with_metadata(metadata)
            .build()
            .map_err(|e| TraceSetupError {
                endpoint: endpoint.clone(),
                message: e.to_string(),
            })?;
        let resource = Resource::builder()
            .with_service_name(service)
            .with_attributes(attributes.into_iter().map(|(k, v)| KeyValue::new(k, v)))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        global::set_text_map_propagator(TraceContextPropagator::new());
        Ok(Some(Traces { provider }))
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        use opentelemetry::trace::TracerProvider;
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("rtdw"))
    }

    /// Exports what is buffered and stops.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "flushing traces failed");
        }
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct MetadataExtractor<'a>(&'a MetadataMap);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .filter_map(|k| match k {
                tonic::metadata::KeyRef::Ascii(key) => Some(key.as_str()),
                tonic::metadata::KeyRef::Binary(_) => None,
            })
            .collect()
    }
}

/// A request whose metadata carries the current span's trace context
/// (`traceparent`), so the callee's spans join the trace.
pub fn traced_request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut MetadataInjector(request.metadata_mut()))
    });
    request
}

/// The W3C `traceparent` of `span`, to carry where gRPC metadata does not
/// go (a checkpoint barrier); empty when traces are off.
pub fn trace_parent_of(span: &tracing::Span) -> String {
    let mut carrier = std::collections::HashMap::new();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&span.context(), &mut carrier)
    });
    carrier.remove("traceparent").unwrap_or_default()
}

/// Makes `span` a child of the span whose `traceparent` this is.
pub fn follow_trace_parent(span: &tracing::Span, trace_parent: &str) {
    if trace_parent.is_empty() {
        return;
    }
    let carrier =
        std::collections::HashMap::from([("traceparent".to_string(), trace_parent.to_string())]);
    let parent = global::get_text_map_propagator(|propagator| propagator.extract(&carrier));
    let _ = span.set_parent(parent);
}

/// Makes `span` a child of the trace context a caller sent in `metadata`.
pub fn follow_caller(span: &tracing::Span, metadata: &MetadataMap) {
    let parent = global::get_text_map_propagator(|propagator| {
        propagator.extract(&MetadataExtractor(metadata))
    });
    // A span that is already closed or disabled has nothing to attach.
    let _ = span.set_parent(parent);
}
