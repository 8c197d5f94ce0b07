//! The plan's concurrency slots, shared by sync calls in flight and PROCESSING async tasks.

/// The concurrency numbers a reply reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotSnapshot {
    pub limit: u32,
    /// In flight, including the request being answered when it holds a slot.
    pub current: u32,
}

impl SlotSnapshot {
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.current)
    }
}

/// Slots in use and the peak seen.
#[derive(Debug, Default)]
pub struct Slots {
    in_flight: u32,
    peak: u32,
}

impl Slots {
    /// Takes a slot if one is free; otherwise reports the full state.
    pub fn try_acquire(&mut self, limit: u32) -> Result<SlotSnapshot, SlotSnapshot> {
        if self.in_flight >= limit {
            return Err(SlotSnapshot {
                limit,
                current: self.in_flight,
            });
        }
        self.in_flight += 1;
        self.peak = self.peak.max(self.in_flight);
        Ok(SlotSnapshot {
            limit,
            current: self.in_flight,
        })
    }

    pub fn release(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    pub fn snapshot(&self, limit: u32) -> SlotSnapshot {
        SlotSnapshot {
            limit,
            current: self.in_flight,
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    pub fn peak(&self) -> u32 {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_fill_up_to_the_limit_and_free_again() {
        let mut slots = Slots::default();
        assert_eq!(slots.try_acquire(2).unwrap().current, 1);
        let second = slots.try_acquire(2).unwrap();
        assert_eq!((second.current, second.remaining()), (2, 0));
        assert_eq!(
            slots.try_acquire(2).unwrap_err(),
            SlotSnapshot {
                limit: 2,
                current: 2
            }
        );
        slots.release();
        assert!(slots.try_acquire(2).is_ok());
        assert_eq!(slots.peak(), 2);
    }
}
