//! crm.v1 messages as JSON (the proto3 JSON mapping, through the contract's descriptors), both
//! ways.

use std::sync::OnceLock;

use anyhow::{Context, anyhow};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut pool = DescriptorPool::global();
        // The contract's set carries the files it imports (google.rpc.Status among them).
        for set in [crm_grpc::pb::FILE_DESCRIPTOR_SET] {
            if let Err(e) = pool.decode_file_descriptor_set(set) {
                eprintln!("crm: the contract's descriptors do not load: {e}");
            }
        }
        pool
    })
}

/// A message as JSON; with `defaults`, fields at their default value (0, "", false) too.
pub fn to_json<M: Message>(
    message: &M,
    name: &str,
    defaults: bool,
) -> anyhow::Result<serde_json::Value> {
    let descriptor = pool()
        .get_message_by_name(name)
        .ok_or_else(|| anyhow!("the contract has no message {name}"))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())?;
    let options = SerializeOptions::new()
        .skip_default_fields(!defaults)
        .stringify_64_bit_integers(false);
    let mut out = serde_json::Serializer::new(Vec::new());
    dynamic.serialize_with_options(&mut out, &options)?;
    Ok(serde_json::from_slice(&out.into_inner())?)
}

/// A message from its JSON form (field names as in the contract or in lowerCamelCase).
pub fn from_json<M: Message + Default>(text: &str, name: &str) -> anyhow::Result<M> {
    let descriptor = pool()
        .get_message_by_name(name)
        .ok_or_else(|| anyhow!("the contract has no message {name}"))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let dynamic = DynamicMessage::deserialize(descriptor, &mut de)
        .map_err(|e| anyhow!("{e}"))
        .context(format!("not a {name} in JSON"))?;
    de.end().map_err(|e| anyhow!("{e}"))?;
    Ok(M::decode(dynamic.encode_to_vec().as_slice())?)
}

/// A JSON value as a message.
pub fn from_value<M: Message + Default>(
    value: &serde_json::Value,
    name: &str,
) -> anyhow::Result<M> {
    from_json(&value.to_string(), name)
}
