//! Slot assignment. With Flink's slot sharing, one slot holds one subtask of
//! every vertex, so a job needs as many slots as its widest vertex; subtask
//! `i` of every vertex goes to slot `i`. Slots are spread over task managers
//! round-robin (Flink's `cluster.evenly-spread-out-slots`), so parallel
//! subtasks land on different machines when they can.

use std::fmt;

/// Free slots of one task manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotOffer {
    /// The task manager.
    pub taskmanager_id: String,
    /// Its free slots.
    pub free: u32,
}

/// The cluster lacks the slots a job needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotEnoughSlots {
    /// Slots the job needs.
    pub required: u32,
    /// Slots free now.
    pub free: u32,
    /// Task managers alive.
    pub taskmanagers: usize,
}

impl fmt::Display for NotEnoughSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Could not acquire the minimum required resources: the job needs {} task slot(s) (one per parallel subtask of its widest vertex), \
             but the cluster has {} free slot(s) on {} task manager(s). Start more task managers, give them more slots (--slots), or lower the parallelism.",
            self.required, self.free, self.taskmanagers
        )
    }
}

/// The task manager of each slot index `0..required`.
pub fn assign_slots(required: u32, offers: &[SlotOffer]) -> Result<Vec<String>, NotEnoughSlots> {
    let free: u32 = offers.iter().map(|o| o.free).sum();
    if free < required {
        return Err(NotEnoughSlots {
            required,
            free,
            taskmanagers: offers.len(),
        });
    }
    let mut remaining: Vec<(String, u32)> = offers
        .iter()
        .map(|o| (o.taskmanager_id.clone(), o.free))
        .collect();
    remaining.sort();
    let mut assignment = Vec::with_capacity(required as usize);
    let count = remaining.len();
    let mut next = 0;
    while assignment.len() < required as usize {
        let (id, free) = &mut remaining[next % count];
        if *free > 0 {
            *free -= 1;
            assignment.push(id.clone());
        }
        next += 1;
    }
    Ok(assignment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(id: &str, free: u32) -> SlotOffer {
        SlotOffer {
            taskmanager_id: id.into(),
            free,
        }
    }

    #[test]
    fn slots_are_spread_over_task_managers() {
        let assignment = assign_slots(3, &[offer("b", 2), offer("a", 2)]).unwrap();
        assert_eq!(assignment, ["a", "b", "a"]);
    }

    #[test]
    fn full_task_managers_are_skipped() {
        let assignment = assign_slots(3, &[offer("a", 0), offer("b", 1), offer("c", 2)]).unwrap();
        assert_eq!(assignment, ["b", "c", "c"]);
    }

    #[test]
    fn too_few_slots_is_an_error_that_counts_them() {
        let err = assign_slots(5, &[offer("a", 2), offer("b", 1)]).unwrap_err();
        assert_eq!(
            err,
            NotEnoughSlots {
                required: 5,
                free: 3,
                taskmanagers: 2
            }
        );
        assert!(err.to_string().contains("needs 5 task slot(s)"));
    }
}
