//! The dependency graph: one node a transaction, edges labelled by why one
//! txn must come before another (a bit set, since a pair can have several
//! reasons). Edges are gathered as packed integers, sorted and merged in
//! parallel, then frozen into petgraph's compressed sparse rows.

use super::history::TxnId;
use petgraph::csr::Csr;
use petgraph::visit::EdgeRef;
use rayon::slice::ParallelSliceMut;

/// `a` wrote a version and `b` the next one.
pub const WW: u8 = 1;
/// `b` read what `a` wrote.
pub const WR: u8 = 2;
/// `a` read a version that `b` overwrote (anti-dependency).
pub const RW: u8 = 4;
/// `a` and `b` ran on one process, `a` first.
pub const PROCESS: u8 = 8;
/// `a` completed before `b` was invoked.
pub const REALTIME: u8 = 16;
/// The edges inferred from reads and writes.
pub const DATA: u8 = WW | WR | RW;

/// Bits of a packed edge: source, target, label.
const LABEL_BITS: u32 = 5;
const NODE_BITS: u32 = 29;

/// The most transactions a graph holds (the packed form's limit).
pub const MAX_TXNS: usize = 1 << NODE_BITS;

/// The name of one edge label.
pub fn label_name(l: u8) -> &'static str {
    match l {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROCESS => "process",
        REALTIME => "realtime",
        _ => "?",
    }
}

/// Edges as they are found; duplicates allowed.
#[derive(Default)]
pub struct Edges(Vec<u64>);

impl Edges {
    /// Adds `a -> b` for reason `label`; self-edges are dropped.
    #[inline]
    pub fn add(&mut self, a: TxnId, b: TxnId, label: u8) {
        if a != b {
            self.0.push(
                ((a as u64) << (NODE_BITS + LABEL_BITS))
                    | ((b as u64) << LABEL_BITS)
                    | label as u64,
            );
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn extend(&mut self, other: Edges) {
        self.0.extend(other.0);
    }
}

/// The frozen graph.
pub struct Graph {
    pub csr: Csr<(), u8, petgraph::Directed, u32>,
}

impl Graph {
    /// Sorts and merges `edges` (labels of one pair OR-ed) into a graph of
    /// `nodes` nodes.
    pub fn build(nodes: usize, mut edges: Edges) -> Graph {
        edges.0.par_sort_unstable();
        let pair_mask = !((1u64 << LABEL_BITS) - 1);
        let node_mask = (1u64 << NODE_BITS) - 1;
        let mut merged: Vec<(u32, u32, u8)> = Vec::with_capacity(edges.0.len());
        let mut last = u64::MAX;
        for e in edges.0 {
            let label = (e & ((1 << LABEL_BITS) - 1)) as u8;
            if e & pair_mask == last {
                merged.last_mut().expect("a previous edge").2 |= label;
            } else {
                last = e & pair_mask;
                let a = (e >> (NODE_BITS + LABEL_BITS)) as u32;
                let b = ((e >> LABEL_BITS) & node_mask) as u32;
                merged.push((a, b, label));
            }
        }
        let mut csr = Csr::from_sorted_edges(&merged).expect("edges are sorted");
        while csr.node_count() < nodes {
            csr.add_node(());
        }
        Graph { csr }
    }

    pub fn node_count(&self) -> usize {
        self.csr.node_count()
    }

    pub fn edge_count(&self) -> usize {
        self.csr.edge_count()
    }

    /// The out-edges of `n`: (target, labels).
    #[inline]
    pub fn out(&self, n: TxnId) -> impl Iterator<Item = (TxnId, u8)> + '_ {
        self.csr.edges(n).map(|e| (e.target(), *e.weight()))
    }

    /// The strongly connected components with more than one txn (self-edges
    /// are never added, so those are the only ones holding cycles).
    /// Tarjan's algorithm with an explicit stack: petgraph's is recursive,
    /// and a million txns chained by real-time edges would overflow ours.
    pub fn cycles_components(&self) -> Vec<Vec<TxnId>> {
        const UNSEEN: u32 = u32::MAX;
        let n = self.node_count();
        let mut index = vec![UNSEEN; n];
        let mut low = vec![0u32; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        // (node, next out-edge position)
        let mut call: Vec<(u32, u32)> = Vec::new();
        let mut next = 0u32;
        let mut out = Vec::new();
        for root in 0..n as u32 {
            if index[root as usize] != UNSEEN {
                continue;
            }
            call.push((root, 0));
            index[root as usize] = next;
            low[root as usize] = next;
            next += 1;
            stack.push(root);
            on_stack[root as usize] = true;
            while let Some(&mut (v, ref mut pos)) = call.last_mut() {
                let succ = self.csr.neighbors_slice(v);
                if (*pos as usize) < succ.len() {
                    let w = succ[*pos as usize];
                    *pos += 1;
                    if index[w as usize] == UNSEEN {
                        index[w as usize] = next;
                        low[w as usize] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w as usize] = true;
                        call.push((w, 0));
                    } else if on_stack[w as usize] {
                        low[v as usize] = low[v as usize].min(index[w as usize]);
                    }
                    continue;
                }
                call.pop();
                if let Some(&(parent, _)) = call.last() {
                    low[parent as usize] = low[parent as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    let at = stack
                        .iter()
                        .rposition(|&x| x == v)
                        .expect("v is on the stack");
                    for &x in &stack[at..] {
                        on_stack[x as usize] = false;
                    }
                    if stack.len() - at > 1 {
                        out.push(stack[at..].to_vec());
                    }
                    stack.truncate(at);
                }
            }
        }
        out
    }
}
