//! libvirt's CPU / node list syntax (`0-3,^2,8`), kept as sorted ranges so
//! a hostile `0-4294967295` costs two numbers, not a bitmap.

use super::Error;

/// A set of small non-negative integers (vCPUs, host CPUs, NUMA nodes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CpuSet {
    /// Sorted, disjoint, non-adjacent inclusive ranges.
    ranges: Vec<(u32, u32)>,
}

impl CpuSet {
    /// Parses `N`, `N-M` and `^N` entries separated by commas.
    pub fn parse(text: &str) -> Result<CpuSet, Error> {
        let invalid = || Error::Invalid(format!("Failed to parse bitmap '{text}'"));
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for entry in text.split(',') {
            let entry = entry.trim();
            let (negate, entry) = match entry.strip_prefix('^') {
                Some(rest) => (true, rest.trim()),
                None => (false, entry),
            };
            let number = |s: &str| s.trim().parse::<u32>().map_err(|_| invalid());
            let (start, end) = match entry.split_once('-') {
                Some((a, b)) if !negate => (number(a)?, number(b)?),
                Some(_) => return Err(invalid()),
                None => {
                    let n = number(entry)?;
                    (n, n)
                }
            };
            if start > end {
                return Err(invalid());
            }
            if negate {
                exclude.push((start, end));
            } else {
                include.push((start, end));
            }
        }
        Ok(CpuSet::from_ranges(include).minus(&CpuSet::from_ranges(exclude)))
    }

    /// Sorts and merges once: n·log n for a list of any length.
    fn from_ranges(mut ranges: Vec<(u32, u32)>) -> CpuSet {
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (s, e) in ranges {
            match merged.last_mut() {
                Some(last) if s <= last.1.saturating_add(1) => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        CpuSet { ranges: merged }
    }

    /// Both lists are sorted: one pass over each.
    fn minus(&self, other: &CpuSet) -> CpuSet {
        let mut out = Vec::new();
        let mut j = 0;
        for &(mut s, e) in &self.ranges {
            while j < other.ranges.len() && other.ranges[j].1 < s {
                j += 1;
            }
            let mut alive = true;
            while let Some(&(os, oe)) = other.ranges.get(j).filter(|r| r.0 <= e) {
                if os > s {
                    out.push((s, os - 1));
                }
                if oe >= e {
                    alive = false;
                    break;
                }
                s = oe + 1;
                j += 1;
            }
            if alive {
                out.push((s, e));
            }
        }
        CpuSet { ranges: out }
    }

    /// The members below `limit` (libvirt shrinks vCPU sets to the vCPU count).
    pub fn below(&self, limit: u32) -> CpuSet {
        CpuSet {
            ranges: self
                .ranges
                .iter()
                .filter(|(s, _)| *s < limit)
                .map(|&(s, e)| (s, e.min(limit.saturating_sub(1))))
                .collect(),
        }
    }

    /// It holds no CPU.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The range that starts last at or before `n`: the only one that may
    /// hold `n` (ranges are sorted and disjoint). Binary search, so checks
    /// over hostile sets of 100k ranges stay n·log n.
    fn range_at(&self, n: u32) -> Option<(u32, u32)> {
        let i = self.ranges.partition_point(|&(s, _)| s <= n);
        i.checked_sub(1).map(|i| self.ranges[i])
    }

    /// It holds CPU `n`.
    pub fn contains(&self, n: u32) -> bool {
        self.range_at(n).is_some_and(|(_, e)| n <= e)
    }

    /// It shares a CPU with `other`.
    pub fn overlaps(&self, other: &CpuSet) -> bool {
        self.ranges
            .iter()
            .any(|&(s, e)| other.range_at(e).is_some_and(|(_, oe)| oe >= s))
    }

    /// Every CPU it holds is in `other`.
    pub fn is_subset_of(&self, other: &CpuSet) -> bool {
        // Ranges are non-adjacent: a run of members lies in a single one.
        self.ranges
            .iter()
            .all(|&(s, e)| other.range_at(s).is_some_and(|(_, oe)| oe >= e))
    }

    /// The largest member.
    pub fn last(&self) -> Option<u32> {
        self.ranges.last().map(|r| r.1)
    }

    /// The ranges, as inclusive (first, last) pairs, smallest first.
    pub fn ranges(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.ranges.iter().copied()
    }

    /// The members, smallest first.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.ranges.iter().flat_map(|&(s, e)| s..=e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libvirt_lists() {
        let set = CpuSet::parse("0-3,^2,8").unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 1, 3, 8]);
        assert!(set.contains(8) && !set.contains(2));
        assert!(CpuSet::parse("0-4294967295").unwrap().contains(u32::MAX));
        assert!(CpuSet::parse("3-1").is_err());
        assert!(CpuSet::parse("a").is_err());
        assert!(CpuSet::parse("").is_err());
    }

    #[test]
    fn set_relations() {
        let a = CpuSet::parse("0-1").unwrap();
        let b = CpuSet::parse("1").unwrap();
        assert!(a.overlaps(&b) && b.is_subset_of(&a) && !a.is_subset_of(&b));
        assert!(!a.overlaps(&CpuSet::parse("2-5").unwrap()));
        assert_eq!(CpuSet::parse("0-100").unwrap().below(4).last(), Some(3));
        assert!(CpuSet::parse("100").unwrap().below(4).is_empty());
    }
}
