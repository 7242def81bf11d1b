//! SASL authentication of a broker connection (KIP-43/KIP-152): a
//! `SaslHandshake` naming the mechanism, then `SaslAuthenticate` rounds:
//! one for `PLAIN`, two for `SCRAM-SHA-256`/`SCRAM-SHA-512` (RFC 5802),
//! whose last answer proves that the broker knows the password too.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};

use super::security::{Mechanism, SaslSettings};
use super::{Broker, ProtocolError};

/// The fewest SCRAM iterations a broker may ask for (Kafka's own minimum).
const MIN_SCRAM_ITERATIONS: u32 = 4096;

/// Authenticates `broker` as `sasl` says.
pub(super) async fn authenticate(
    broker: &mut Broker,
    sasl: &SaslSettings,
) -> Result<(), ProtocolError> {
    let request = SaslHandshakeRequest::default()
        .with_mechanism(StrBytes::from_string(sasl.mechanism.name().into()));
    let handshake: SaslHandshakeResponse =
        broker.call(ApiKey::SaslHandshake, 1..=1, &request).await?;
    if handshake.error_code != 0 {
        let offered: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(broker.refused(format!(
            "SASL mechanism {} is not enabled (the broker offers {})",
            sasl.mechanism.name(),
            offered.join(", ")
        )));
    }
    match sasl.mechanism {
        Mechanism::Plain => {
            let message = format!("\0{}\0{}", sasl.username, sasl.password);
            round(broker, message.into_bytes()).await.map(drop)
        }
        Mechanism::ScramSha256 => scram(broker, sasl, Scram::SHA256).await,
        Mechanism::ScramSha512 => scram(broker, sasl, Scram::SHA512).await,
    }
}

/// One `SaslAuthenticate` exchange: sends `bytes`, returns the answer.
async fn round(broker: &mut Broker, bytes: Vec<u8>) -> Result<Vec<u8>, ProtocolError> {
    let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes));
    let response: SaslAuthenticateResponse = broker
        .call(ApiKey::SaslAuthenticate, 0..=2, &request)
        .await?;
    if response.error_code != 0 {
        let message = response
            .error_message
            .map(|m| m.to_string())
            .unwrap_or_else(|| format!("error code {}", response.error_code));
        return Err(broker.refused(format!("SASL authentication failed: {message}")));
    }
    Ok(response.auth_bytes.to_vec())
}

/// The hash functions of one SCRAM mechanism.
#[derive(Clone, Copy)]
struct Scram {
    hmac: hmac::Algorithm,
    digest: &'static digest::Algorithm,
    pbkdf2: pbkdf2::Algorithm,
}

impl Scram {
    const SHA256: Scram = Scram {
        hmac: hmac::HMAC_SHA256,
        digest: &digest::SHA256,
        pbkdf2: pbkdf2::PBKDF2_HMAC_SHA256,
    };
    const SHA512: Scram = Scram {
        hmac: hmac::HMAC_SHA512,
        digest: &digest::SHA512,
        pbkdf2: pbkdf2::PBKDF2_HMAC_SHA512,
    };

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        hmac::sign(&hmac::Key::new(self.hmac, key), data)
            .as_ref()
            .to_vec()
    }
}

/// The SCRAM exchange of RFC 5802, without channel binding.
async fn scram(broker: &mut Broker, sasl: &SaslSettings, hash: Scram) -> Result<(), ProtocolError> {
    let mut nonce_bytes = [0u8; 24];
    SystemRandom::new()
        .fill(&mut nonce_bytes)
        .map_err(|_| broker.refused("no randomness for a SCRAM nonce".into()))?;
    let nonce = BASE64.encode(nonce_bytes);
    let client_first_bare = format!("n={},r={nonce}", sasl_name(&sasl.username));
    let server_first = round(broker, format!("n,,{client_first_bare}").into_bytes()).await?;
    let server_first = String::from_utf8(server_first)
        .map_err(|_| broker.refused("a SCRAM challenge that is not UTF-8".into()))?;
    let challenge = Challenge::parse(&server_first, &nonce)
        .map_err(|problem| broker.refused(format!("SCRAM challenge refused: {problem}")))?;

    let proof = prove(
        hash,
        &sasl.password,
        &client_first_bare,
        &server_first,
        &challenge,
    );
    let server_final = round(broker, proof.client_final.into_bytes()).await?;
    let server_final = String::from_utf8_lossy(&server_final);
    match server_final.strip_prefix("v=") {
        Some(verifier) if verifier == proof.server_signature => Ok(()),
        Some(_) => Err(broker.refused(
            "the broker's SCRAM signature is wrong: it does not know the password".into(),
        )),
        None => Err(broker.refused(format!("SCRAM refused: {server_final}"))),
    }
}

/// The client's final SCRAM message, proving it knows the password, and
/// the signature the broker must answer with to prove it knows it too.
struct Proof {
    client_final: String,
    server_signature: String,
}

/// RFC 5802's proofs for the exchange so far.
fn prove(
    hash: Scram,
    password: &str,
    client_first_bare: &str,
    server_first: &str,
    challenge: &Challenge,
) -> Proof {
    let mut salted = vec![0u8; hash.digest.output_len()];
    pbkdf2::derive(
        hash.pbkdf2,
        challenge.iterations,
        &challenge.salt,
        password.as_bytes(),
        &mut salted,
    );
    let client_key = hash.hmac(&salted, b"Client Key");
    let stored_key = digest::digest(hash.digest, &client_key);
    let without_proof = format!("c=biws,r={}", challenge.nonce);
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = hash.hmac(stored_key.as_ref(), auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hash.hmac(&salted, b"Server Key");
    Proof {
        client_final: format!("{without_proof},p={}", BASE64.encode(proof)),
        server_signature: BASE64.encode(hash.hmac(&server_key, auth_message.as_bytes())),
    }
}

/// The broker's first SCRAM message.
struct Challenge {
    /// The client's nonce with the broker's appended.
    nonce: String,
    salt: Vec<u8>,
    iterations: NonZeroU32,
}

impl Challenge {
    /// Reads `r=...,s=...,i=...`, checking that the nonce extends ours.
    fn parse(message: &str, client_nonce: &str) -> Result<Self, String> {
        let attribute = |name: &str| {
            message
                .split(',')
                .find_map(|part| part.strip_prefix(name))
                .ok_or_else(|| format!("'{message}' has no '{name}'"))
        };
        let nonce = attribute("r=")?;
        if !nonce.starts_with(client_nonce) || nonce.len() == client_nonce.len() {
            return Err("the nonce does not extend the client's".into());
        }
        let salt = BASE64
            .decode(attribute("s=")?)
            .map_err(|e| format!("a salt that is not base64: {e}"))?;
        let iterations = attribute("i=")?
            .parse::<u32>()
            .ok()
            .filter(|i| *i >= MIN_SCRAM_ITERATIONS)
            .and_then(NonZeroU32::new)
            .ok_or_else(|| format!("an iteration count below {MIN_SCRAM_ITERATIONS}"))?;
        Ok(Challenge {
            nonce: nonce.to_string(),
            salt,
            iterations,
        })
    }
}

/// A user name as SCRAM writes it: `=` and `,` escaped.
fn sasl_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's SCRAM-SHA-256 example: user "user", password "pencil".
    #[test]
    fn the_rfc_7677_proof_and_server_signature_come_out() {
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let challenge = Challenge::parse(server_first, "rOprNGfwEbeRWgbNEkqO").unwrap();
        let proof = prove(
            Scram::SHA256,
            "pencil",
            "n=user,r=rOprNGfwEbeRWgbNEkqO",
            server_first,
            &challenge,
        );
        assert_eq!(
            proof.client_final,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            proof.server_signature,
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn a_challenge_must_extend_the_nonce_and_iterate_enough() {
        assert!(Challenge::parse("r=abcdef,s=AAAA,i=4096", "abc").is_ok());
        assert!(Challenge::parse("r=xyzdef,s=AAAA,i=4096", "abc").is_err());
        assert!(Challenge::parse("r=abc,s=AAAA,i=4096", "abc").is_err());
        assert!(Challenge::parse("r=abcdef,s=AAAA,i=1000", "abc").is_err());
        assert!(Challenge::parse("r=abcdef,i=4096", "abc").is_err());
        assert_eq!(sasl_name("a=b,c"), "a=3Db=2Cc");
    }
}
