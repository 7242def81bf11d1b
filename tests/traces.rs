//! End-to-end: the spans of a real coordinator and two task-manager
//! processes, received over OTLP/gRPC by a collector inside this test and
//! by a real Jaeger (read back through its query API). One submission is
//! one trace, whose deployment spans on both task managers are children of
//! the coordinator's spans.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use support::services::Service;
use support::{Cluster, ClusterOptions, wait_for};

/// One received span.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    service: String,
    taskmanager: Option<String>,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
}

/// A collector that keeps every span it is sent, and the `authorization`
/// header of every export.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<ReceivedSpan>>>, Arc<Mutex<Vec<String>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        self.1.lock().unwrap().push(authorization);
        let mut spans = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let attribute = |key: &str| {
                let resource = resource_spans.resource.as_ref()?;
                let value = resource
                    .attributes
                    .iter()
                    .find(|a| a.key == key)?
                    .value
                    .as_ref()?;
                match value.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                }
            };
            let service = attribute("service.name").unwrap_or_default();
            let taskmanager = attribute("rtdw.taskmanager.id");
            for scope in &resource_spans.scope_spans {
                for span in &scope.spans {
                    spans.push(ReceivedSpan {
                        service: service.clone(),
                        taskmanager: taskmanager.clone(),
                        name: span.name.clone(),
                        trace_id: span.trace_id.clone(),
                        span_id: span.span_id.clone(),
                        parent_span_id: span.parent_span_id.clone(),
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The spans `service` exported under `name`.
fn spans_named<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> Vec<&'a ReceivedSpan> {
    spans
        .iter()
        .filter(|s| s.service == service && s.name == name)
        .collect()
}

/// A checkpoint every 300 ms.
const CHECKPOINTS: &str = "SET 'execution.checkpointing.interval' = '300 ms';\n";

/// A job counting generated ids by parity into a blackhole, after `sets`,
/// with the datagen options `generator` (its rows and rate).
fn parity_counts(sets: &str, generator: &str) -> String {
    format!(
        "{sets}CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', {generator});\n\
         CREATE TABLE sink (k BIGINT, n BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO sink SELECT id % 2, COUNT(*) FROM gen GROUP BY id % 2;"
    )
}

/// How many spans named `name` belong to trace `trace_id`.
fn count_in_trace(spans: &[ReceivedSpan], trace_id: &[u8], name: &str) -> usize {
    spans
        .iter()
        .filter(|s| s.name == name && s.trace_id == trace_id)
        .count()
}

#[test]
fn submissions_checkpoints_and_failovers_are_traced_across_processes() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let collector = Collector::default();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let mut cluster = Cluster::start(ClusterOptions {
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
            (
                "RTDW_TRACING__OTLP_HEADERS__AUTHORIZATION".into(),
                "Bearer secret-token-17".into(),
            ),
        ],
        ..ClusterOptions::default()
    });
    // Two seconds of input with a checkpoint every 300 ms.
    let sql = parity_counts(
        CHECKPOINTS,
        "'number-of-rows' = '2000', 'rows-per-second' = '1000'",
    );
    let id = cluster.submit("traced.sql", &sql, &["-p", "2"]);
    cluster.wait_for_state(&id, "FINISHED", Duration::from_secs(60));

    let spans = wait_for(
        "the deployment spans of both task managers",
        Duration::from_secs(60),
        || {
            let spans = collector.0.lock().unwrap().clone();
            let deployed: BTreeSet<_> = spans
                .iter()
                .filter(|s| s.service == "rtdw-taskmanager" && s.name == "deploy_tasks")
                .filter_map(|s| s.taskmanager.clone())
                .collect();
            let coordinator_done = spans.iter().any(|s| s.name == "submit_job");
            (deployed.len() == 2 && coordinator_done).then_some(spans)
        },
    );
    // The secret header reached the collector with every export, and no
    // process logged it.
    let headers = collector.1.lock().unwrap().clone();
    assert!(!headers.is_empty());
    assert!(
        headers.iter().all(|h| h == "Bearer secret-token-17"),
        "{headers:?}"
    );
    assert!(!cluster.logs().contains("secret-token-17"));
    let find = |service: &str, name: &str| spans_named(&spans, service, name);
    let submit = find("rtdw-coordinator", "submit_job");
    assert_eq!(submit.len(), 1, "{spans:#?}");
    let submit = submit[0];
    let trace = &submit.trace_id;
    for name in ["plan", "schedule", "deploy"] {
        let child = find("rtdw-coordinator", name);
        assert_eq!(child.len(), 1, "{name}: {spans:#?}");
        assert_eq!(
            &child[0].trace_id, trace,
            "{name} is in the submission's trace"
        );
        assert_eq!(
            child[0].parent_span_id, submit.span_id,
            "{name} is a child of submit_job"
        );
    }
    let deploy = find("rtdw-coordinator", "deploy")[0];
    let calls = find("rtdw-coordinator", "deploy_tasks");
    assert_eq!(
        calls.len(),
        2,
        "one deployment call per task manager: {spans:#?}"
    );
    for call in &calls {
        assert_eq!(call.parent_span_id, deploy.span_id);
    }
    let call_ids: BTreeSet<&Vec<u8>> = calls.iter().map(|c| &c.span_id).collect();
    let remote = find("rtdw-taskmanager", "deploy_tasks");
    assert_eq!(remote.len(), 2, "{spans:#?}");
    for span in &remote {
        assert_eq!(
            &span.trace_id, trace,
            "the task manager's span joins the submission's trace"
        );
        assert!(
            call_ids.contains(&span.parent_span_id),
            "its parent is the coordinator's call span"
        );
        let decode = spans
            .iter()
            .find(|s| s.name == "decode_plan" && s.parent_span_id == span.span_id)
            .unwrap_or_else(|| {
                panic!("no decode_plan span under the task manager's deploy_tasks: {spans:#?}")
            });
        assert_eq!(&decode.trace_id, trace);
    }
    assert!(
        find("rtdw-taskmanager", "plan").is_empty(),
        "task managers run the shipped plan, they do not plan: {spans:#?}"
    );

    // One trace per checkpoint: the coordinator's root, and under it the
    // alignment, snapshot, upload and commit of subtasks on both task managers.
    // Spans of one checkpoint come from three processes in separate export
    // batches: wait until one trace has them all.
    let spans = wait_for(
        "a complete checkpoint trace",
        Duration::from_secs(60),
        || {
            let spans = collector.0.lock().unwrap().clone();
            let complete = spans.iter().filter(|s| s.name == "checkpoint").any(|root| {
                let count = |name: &str| count_in_trace(&spans, &root.trace_id, name);
                count("snapshot") == 4
                    && count("commit") > 0
                    && count("align") > 0
                    && count("upload") > 0
                    && count("acknowledge_checkpoint") > 0
            });
            complete.then_some(spans)
        },
    );
    let find = |service: &str, name: &str| spans_named(&spans, service, name);
    let roots = find("rtdw-coordinator", "checkpoint");
    let traced = roots
        .iter()
        .find(|root| {
            let in_trace = |name: &str| count_in_trace(&spans, &root.trace_id, name);
            in_trace("snapshot") == 4 && in_trace("commit") > 0
        })
        .unwrap_or_else(|| panic!("a checkpoint trace that reached commit: {spans:#?}"));
    assert!(
        traced.parent_span_id.is_empty(),
        "a checkpoint is a trace of its own"
    );
    let children = |name: &str| -> Vec<&ReceivedSpan> {
        spans
            .iter()
            .filter(|s| s.name == name && s.trace_id == traced.trace_id)
            .inspect(|s| {
                assert_eq!(
                    s.parent_span_id, traced.span_id,
                    "{name} is a child of the root"
                )
            })
            .collect()
    };
    for name in ["align", "snapshot", "upload", "commit"] {
        assert!(
            !children(name).is_empty(),
            "no {name} span in the checkpoint's trace: {spans:#?}"
        );
    }
    let snapshotting: BTreeSet<_> = children("snapshot")
        .iter()
        .filter_map(|s| s.taskmanager.clone())
        .collect();
    assert_eq!(
        snapshotting.len(),
        2,
        "subtasks on both task managers snapshot"
    );
    assert_eq!(
        children("snapshot").len(),
        4,
        "two vertices of two subtasks each"
    );
    // Task managers' calls to the coordinator carry their context too: a
    // subtask's acknowledgement continues its upload, a registration its
    // task manager's span.
    let uploads: BTreeSet<&Vec<u8>> = children("upload").iter().map(|s| &s.span_id).collect();
    assert!(
        spans.iter().any(|s| s.name == "acknowledge_checkpoint"
            && s.service == "rtdw-coordinator"
            && uploads.contains(&s.parent_span_id)),
        "an acknowledgement is a child of its upload: {spans:#?}"
    );
    let registrations: BTreeSet<&Vec<u8>> = find("rtdw-taskmanager", "register")
        .iter()
        .map(|s| &s.span_id)
        .collect();
    assert!(
        find("rtdw-coordinator", "register_task_manager")
            .iter()
            .any(|s| registrations.contains(&s.parent_span_id)),
        "registrations join the task managers' traces: {spans:#?}"
    );

    // A failover is a span of its own, and each restored subtask's state
    // loading a `restore` span under its task manager's deployment.
    let unbounded = parity_counts(
        &format!("{CHECKPOINTS}SET 'restart-strategy.type' = 'fixed-delay';\n"),
        "'rows-per-second' = '1000'",
    );
    let failing = cluster.submit("failover.sql", &unbounded, &["-p", "2"]);
    wait_for("a checkpoint", Duration::from_secs(60), || {
        (cluster.job(&failing)["latest_checkpoint_id"].as_u64() > Some(0)).then_some(())
    });
    cluster.kill_taskmanager(0);
    cluster.add_taskmanager(2);
    wait_for(
        "the failover and restore spans",
        Duration::from_secs(60),
        || {
            let spans = collector.0.lock().unwrap().clone();
            let failover = spans
                .iter()
                .any(|s| s.service == "rtdw-coordinator" && s.name == "failover");
            let restored = spans
                .iter()
                .any(|s| s.service == "rtdw-taskmanager" && s.name == "restore");
            (failover && restored).then_some(())
        },
    );
    cluster.rtdw_ok(&["job", "cancel", &failing]);
}

/// The traces Jaeger's query API returns for spans of `service` carrying
/// tag `key` = `value`, from the last hour.
fn jaeger_traces(query: &str, service: &str, key: &str, value: &str) -> Vec<serde_json::Value> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_micros();
    let hour = 3_600_000_000;
    // {"key":"value"}, URL-encoded.
    let tags = format!("%7B%22{key}%22%3A%22{value}%22%7D");
    let path = format!(
        "/api/traces?service={service}&tags={tags}&start={}&end={}&limit=20",
        now - hour,
        now + hour
    );
    support::try_http_get(query, &path)
        .ok()
        .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|answer| answer["data"].as_array().cloned())
        .unwrap_or_default()
}

/// The service name and the tags of the process that sent `span`, in a
/// trace as Jaeger's query API returns it.
fn jaeger_process<'a>(
    trace: &'a serde_json::Value,
    span: &serde_json::Value,
) -> (&'a str, &'a [serde_json::Value]) {
    let process = &trace["processes"][span["processID"].as_str().unwrap_or_default()];
    (
        process["serviceName"].as_str().unwrap_or_default(),
        process["tags"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default(),
    )
}

/// The string value of tag `key` among `tags`.
fn jaeger_tag<'a>(tags: &'a [serde_json::Value], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t["key"] == key)?["value"].as_str()
}

#[test]
fn a_submission_is_one_trace_in_jaeger() {
    let jaeger = Service::shared_or_own("jaeger");
    let query = jaeger.address("RTDW_JAEGER_QUERY");
    let cluster = Cluster::start(ClusterOptions {
        env: vec![
            (
                "RTDW_TRACING__OTLP_ENDPOINT".into(),
                jaeger.var("RTDW_JAEGER_OTLP").into(),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ],
        ..ClusterOptions::default()
    });
    let sql = parity_counts("", "'number-of-rows' = '1000'");
    let id = cluster.submit("jaeger.sql", &sql, &["-p", "2"]);
    cluster.wait_for_state(&id, "FINISHED", Duration::from_secs(60));

    // The coordinator's spans of the submission carry the job id (so do
    // the logs of later spans, in traces of their own): find the trace with
    // the submission, and wait until both task managers' spans joined it.
    let trace = wait_for(
        "one trace in Jaeger with the submission and both deployments",
        Duration::from_secs(60),
        || {
            jaeger_traces(&query, "rtdw-coordinator", "job", &id)
                .into_iter()
                .find(|trace| {
                    let Some(spans) = trace["spans"].as_array() else {
                        return false;
                    };
                    let deployed: BTreeSet<&str> = spans
                        .iter()
                        .filter(|s| s["operationName"] == "deploy_tasks")
                        .filter_map(|s| {
                            let (service, tags) = jaeger_process(trace, s);
                            (service == "rtdw-taskmanager")
                                .then(|| jaeger_tag(tags, "rtdw.taskmanager.id"))
                                .flatten()
                        })
                        .collect();
                    let submitted = spans.iter().any(|s| {
                        s["operationName"] == "submit_job"
                            && jaeger_process(trace, s).0 == "rtdw-coordinator"
                    });
                    submitted && deployed.len() == 2
                })
        },
    );
    let spans = trace["spans"].as_array().expect("spans");
    let trace_id = &trace["traceID"];
    assert!(spans.iter().all(|s| &s["traceID"] == trace_id), "{trace:#}");
    assert!(
        spans.iter().any(|s| {
            jaeger_process(&trace, s).0 == "rtdw-coordinator"
                && jaeger_tag(s["tags"].as_array().unwrap(), "job") == Some(id.as_str())
        }),
        "the coordinator's spans name the job: {trace:#}"
    );
    // Each task manager's deployment is a child of the coordinator's call
    // to it.
    let coordinator_calls: BTreeSet<&str> = spans
        .iter()
        .filter(|s| {
            s["operationName"] == "deploy_tasks"
                && jaeger_process(&trace, s).0 == "rtdw-coordinator"
        })
        .filter_map(|s| s["spanID"].as_str())
        .collect();
    assert_eq!(coordinator_calls.len(), 2, "{trace:#}");
    for span in spans.iter().filter(|s| {
        s["operationName"] == "deploy_tasks" && jaeger_process(&trace, s).0 == "rtdw-taskmanager"
    }) {
        let parent = span["references"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["refType"] == "CHILD_OF"))
            .and_then(|r| r["spanID"].as_str());
        assert!(
            parent.is_some_and(|p| coordinator_calls.contains(p)),
            "a task manager's deployment continues the coordinator's call: {span:#}"
        );
    }
}
