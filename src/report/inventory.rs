//! The `inventory` command: discover and render the calls as text or JSON.

use anyhow::Result;

use crate::Outcome;
use crate::cli::InventoryArgs;

pub fn run(_args: &InventoryArgs) -> Result<Outcome> {
    anyhow::bail!("inventory: not implemented yet")
}
