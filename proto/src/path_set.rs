//! The paths a lane drives, by path id: what [`crate::SenderLane`] and
//! [`crate::ReceiverLane`] share (splitting and joining lanes, lookup by id, the
//! round robin over the paths driven here).

/// Paths indexed by id; `None` where another lane drives the path.
#[derive(Debug)]
pub struct PathSet<P> {
    slots: Vec<Option<P>>,
    /// The slot the next round robin starts at.
    rr: usize,
}

impl<P> PathSet<P> {
    /// A set over `slots` (indexed by path id).
    pub fn new(slots: Vec<Option<P>>) -> Self {
        PathSet { slots, rr: 0 }
    }

    /// Whether path `id` is in this set.
    pub fn drives(&self, id: u16) -> bool {
        self.slots.get(id as usize).is_some_and(Option::is_some)
    }

    /// Path `id`, if in this set.
    pub fn get(&self, id: u16) -> Option<&P> {
        self.slots.get(id as usize)?.as_ref()
    }

    /// Path `id`, mutably, if in this set.
    pub fn get_mut(&mut self, id: u16) -> Option<&mut P> {
        self.slots.get_mut(id as usize)?.as_mut()
    }

    /// The paths in this set, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &P> {
        self.slots.iter().flatten()
    }

    /// The paths in this set, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut P> {
        self.slots.iter_mut().flatten()
    }

    /// Number of path ids of the session (in this set or not).
    pub fn id_count(&self) -> usize {
        self.slots.len()
    }

    /// Moves the paths for which `take(id)` holds into a new set.
    pub fn split(&mut self, take: impl Fn(u16) -> bool) -> PathSet<P> {
        let slots = self
            .slots
            .iter_mut()
            .enumerate()
            .map(|(i, slot)| if take(i as u16) { slot.take() } else { None })
            .collect();
        PathSet::new(slots)
    }

    /// Takes back the paths of a set made by [`PathSet::split`].
    pub fn join(&mut self, other: PathSet<P>) {
        for (slot, p) in self.slots.iter_mut().zip(other.slots) {
            if p.is_some() {
                *slot = p;
            }
        }
    }

    /// The first `Some` that `f` gives over the paths, starting after the path that
    /// gave the last one (round robin, so every path gets its turn).
    pub fn round_robin<T>(&mut self, mut f: impl FnMut(&mut P) -> Option<T>) -> Option<T> {
        let n = self.slots.len();
        for k in 0..n {
            let i = (self.rr + k) % n;
            let Some(p) = self.slots[i].as_mut() else { continue };
            if let Some(t) = f(p) {
                self.rr = (i + 1) % n;
                return Some(t);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_moves_paths_and_join_puts_them_back() {
        let mut a = PathSet::new((0..4).map(Some).collect());
        let b = a.split(|id| id % 2 == 1);
        assert_eq!(a.iter().copied().collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(b.iter().copied().collect::<Vec<_>>(), vec![1, 3]);
        assert!(!a.drives(1) && b.drives(1) && b.get(3) == Some(&3));
        a.join(b);
        assert_eq!(a.iter().count(), 4);
    }

    #[test]
    fn round_robin_gives_every_path_its_turn() {
        let mut s = PathSet::new(vec![Some(0), None, Some(2), Some(3)]);
        let order: Vec<i32> = (0..6).filter_map(|_| s.round_robin(|p| Some(*p))).collect();
        assert_eq!(order, vec![0, 2, 3, 0, 2, 3]);
        assert_eq!(s.round_robin(|p| (*p == 2).then_some(*p)), Some(2));
        assert_eq!(s.round_robin(|_| None::<i32>), None);
    }
}
