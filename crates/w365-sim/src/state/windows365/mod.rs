//! Windows 365 state: provisioning policies, user settings, service plans, Frontline plans, Cloud PCs.

use serde::{Deserialize, Serialize};

/// All Windows 365 state of one tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Windows365State {}
