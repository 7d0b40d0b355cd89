//! TEMPORARY stub
use super::field::Out;
pub fn to_yaml(out: &Out) -> String {
    format!("{out:?}")
}
pub fn to_json(out: &Out, _pretty: bool) -> String {
    format!("{out:?}")
}
