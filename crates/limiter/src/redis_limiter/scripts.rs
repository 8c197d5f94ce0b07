//! The Lua scripts, loaded from `src/lua/` at compile time behind a shared prelude (Redis
//! `TIME`, integer formatting, TTL helpers) and the fair queue's helpers. `redis::Script` calls them by EVALSHA and loads
//! them on NOSCRIPT.

use redis::Script;

macro_rules! limiter_script {
    ($file:literal) => {
        Script::new(concat!(
            include_str!("../lua/prelude.lua"),
            "\n",
            include_str!("../lua/fair_queue.lua"),
            "\n",
            include_str!(concat!("../lua/", $file))
        ))
    };
}

pub(crate) struct Scripts {
    pub(crate) admit: Script,
    pub(crate) settle: Script,
    pub(crate) renew: Script,
    pub(crate) budget_position: Script,
    pub(crate) seed_charged: Script,
    pub(crate) correct_charged: Script,
    pub(crate) budget_state: Script,
    pub(crate) state_marker: Script,
    pub(crate) leave_queue: Script,
}

impl Scripts {
    pub(crate) fn load() -> Self {
        Self {
            admit: limiter_script!("admit.lua"),
            settle: limiter_script!("settle.lua"),
            renew: limiter_script!("renew.lua"),
            budget_position: limiter_script!("budget_position.lua"),
            seed_charged: limiter_script!("seed_charged.lua"),
            correct_charged: limiter_script!("correct_charged.lua"),
            budget_state: limiter_script!("budget_state.lua"),
            state_marker: limiter_script!("state_marker.lua"),
            leave_queue: limiter_script!("leave_queue.lua"),
        }
    }
}
