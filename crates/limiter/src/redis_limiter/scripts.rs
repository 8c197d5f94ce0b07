//! The Lua scripts, loaded from `src/lua/` at compile time behind a shared prelude (Redis
//! `TIME`, integer formatting, TTL helpers); the scripts that touch the fair queue also get
//! its helpers (`fair_queue.lua`). `redis::Script` calls them by EVALSHA and loads them on
//! NOSCRIPT.

use redis::Script;

/// `prelude.lua`, then each named file of `src/lua/` in order, as one script.
macro_rules! limiter_script {
    ($($file:literal),+) => {
        Script::new(concat!(
            include_str!("../lua/prelude.lua"),
            $("\n", include_str!(concat!("../lua/", $file))),+
        ))
    };
}

pub(crate) struct Scripts {
    pub(crate) admit: Script,
    pub(crate) leave_fair_queue: Script,
    pub(crate) settle: Script,
    pub(crate) renew: Script,
    pub(crate) budget_totals: Script,
    pub(crate) seed_charged: Script,
    pub(crate) correct_charged: Script,
    pub(crate) budget_state: Script,
    pub(crate) state_marker: Script,
}

impl Scripts {
    pub(crate) fn load() -> Self {
        Self {
            admit: limiter_script!("fair_queue.lua", "admit.lua"),
            leave_fair_queue: limiter_script!("fair_queue.lua", "leave_fair_queue.lua"),
            settle: limiter_script!("settle.lua"),
            renew: limiter_script!("renew.lua"),
            budget_totals: limiter_script!("budget_totals.lua"),
            seed_charged: limiter_script!("seed_charged.lua"),
            correct_charged: limiter_script!("correct_charged.lua"),
            budget_state: limiter_script!("budget_state.lua"),
            state_marker: limiter_script!("state_marker.lua"),
        }
    }
}
