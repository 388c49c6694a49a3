use super::*;

fn node(id: &str, parents: &[&str]) -> Node {
    Node {
        id: id.to_owned(),
        parents: parents.iter().map(|p| (*p).to_owned()).collect(),
        message: format!("revision {id}"),
        ..Node::default()
    }
}

fn with_labels(mut n: Node, labels: &[&str]) -> Node {
    n.branch_labels = labels.iter().map(|l| (*l).to_owned()).collect();
    n
}

fn with_deps(mut n: Node, deps: &[&str]) -> Node {
    n.depends_on = deps.iter().map(|d| (*d).to_owned()).collect();
    n
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

/// base 1111aaaa <- 2222bbbb <- 3333cccc <- 4444dddd, given out of order
/// so that nothing depends on input order.
fn linear() -> Graph {
    Graph::new(vec![
        node("3333cccc", &["2222bbbb"]),
        node("1111aaaa", &[]),
        node("4444dddd", &["3333cccc"]),
        node("2222bbbb", &["1111aaaa"]),
    ])
    .unwrap()
}

/// Two bases, a branch point, a merge, a dependency across bases:
///
/// ```text
/// a1000 <- b2000 <- c3100 (label `x`) <- d4000 (merge) <- e5000
///               \- c3200 -----------------/
/// f6000 (label `other`) <- f6100 (depends on c3100)
/// ```
fn forked() -> Graph {
    Graph::new(vec![
        node("e5000", &["d4000"]),
        node("d4000", &["c3100", "c3200"]),
        with_labels(node("c3100", &["b2000"]), &["x"]),
        node("c3200", &["b2000"]),
        node("b2000", &["a1000"]),
        node("a1000", &[]),
        with_labels(node("f6000", &[]), &["other"]),
        with_deps(node("f6100", &["f6000"]), &["x"]),
    ])
    .unwrap()
}

fn ids_of(steps: &[Step]) -> Vec<&str> {
    steps.iter().map(|s| s.revision.as_str()).collect()
}

/// Applies steps like a database would: every row the change touches
/// must exist, and no row is inserted twice.
fn apply_strictly(steps: &[Step], start: &[String]) -> BTreeSet<String> {
    let mut rows: BTreeSet<String> = start.iter().cloned().collect();
    for step in steps {
        let mut take = |id: &String| {
            assert!(
                rows.remove(id),
                "{step:?} removes missing row {id} of {rows:?}"
            )
        };
        match &step.change {
            VersionChange::Insert { .. } => {}
            VersionChange::Delete { id } => take(id),
            VersionChange::Update { from, .. } => take(from),
            VersionChange::Merge {
                delete,
                update_from,
                ..
            } => {
                delete.iter().for_each(&mut take);
                take(update_from);
            }
            VersionChange::Unmerge { from, .. } => take(from),
        }
        let added: Vec<String> = match &step.change {
            VersionChange::Insert { id } => vec![id.clone()],
            VersionChange::Delete { .. } => vec![],
            VersionChange::Update { to, .. } | VersionChange::Merge { to, .. } => {
                vec![to.clone()]
            }
            VersionChange::Unmerge { to, .. } => to.clone(),
        };
        for id in added {
            assert!(
                rows.insert(id.clone()),
                "{step:?} inserts existing row {id}"
            );
        }
    }
    rows
}

/// What the version table must hold when `applied` are the applied
/// revisions: those no other applied revision builds on.
fn expected_rows(graph: &Graph, applied: &BTreeSet<usize>) -> BTreeSet<String> {
    applied
        .iter()
        .filter(|&&i| !graph.all_children[i].iter().any(|c| applied.contains(c)))
        .map(|&i| graph.nodes[i].id.clone())
        .collect()
}

fn at(graph: &Graph, target: &str) -> Vec<String> {
    let steps = graph.upgrade_plan(&[], target).unwrap();
    apply_strictly(&steps, &[]).into_iter().collect()
}

// --- construction ---

#[test]
fn new_accepts_an_empty_project() {
    let graph = Graph::new(vec![]).unwrap();
    assert!(graph.is_empty());
    assert_eq!(graph.len(), 0);
    assert!(graph.heads().is_empty());
    assert!(graph.bases().is_empty());
    assert!(graph.walk_newest_first().is_empty());
    assert_eq!(graph.resolve("head", &[]).unwrap(), Vec::<String>::new());
    assert!(graph.upgrade_plan(&[], "heads").unwrap().is_empty());
}

#[test]
fn new_refuses_a_duplicate_id() {
    let err = Graph::new(vec![node("aaaa", &[]), node("aaaa", &[])]).unwrap_err();
    assert_eq!(err, GraphError::DuplicateId("aaaa".into()));
    assert!(err.to_string().contains("new id"));
}

#[test]
fn new_refuses_a_missing_parent() {
    let err = Graph::new(vec![node("bbbb", &["aaaa"])]).unwrap_err();
    assert_eq!(
        err,
        GraphError::MissingParent {
            revision: "bbbb".into(),
            parent: "aaaa".into()
        }
    );
}

#[test]
fn new_refuses_a_missing_dependency() {
    let err = Graph::new(vec![with_deps(node("bbbb", &[]), &["nope"])]).unwrap_err();
    assert_eq!(
        err,
        GraphError::MissingDependency {
            revision: "bbbb".into(),
            dependency: "nope".into()
        }
    );
}

#[test]
fn new_refuses_a_cycle_and_names_only_its_members() {
    let err = Graph::new(vec![
        node("aaaa", &[]),
        node("bbbb", &["aaaa", "dddd"]),
        node("cccc", &["bbbb"]),
        node("dddd", &["cccc"]),
        node("eeee", &["dddd"]),
    ])
    .unwrap_err();
    assert_eq!(err, GraphError::Cycle(strings(&["bbbb", "cccc", "dddd"])));
    assert!(err.to_string().contains("bbbb, cccc, dddd"));
}

#[test]
fn new_refuses_a_cycle_through_depends_on() {
    let err = Graph::new(vec![
        with_deps(node("aaaa", &[]), &["bbbb"]),
        node("bbbb", &["aaaa"]),
    ])
    .unwrap_err();
    assert_eq!(err, GraphError::Cycle(strings(&["aaaa", "bbbb"])));
}

#[test]
fn new_refuses_a_revision_that_is_its_own_parent() {
    let err = Graph::new(vec![node("aaaa", &["aaaa"])]).unwrap_err();
    assert_eq!(err, GraphError::Cycle(strings(&["aaaa"])));
}

#[test]
fn new_refuses_a_branch_label_used_twice_or_equal_to_an_id() {
    let err = Graph::new(vec![
        with_labels(node("aaaa", &[]), &["x"]),
        with_labels(node("bbbb", &["aaaa"]), &["x"]),
    ])
    .unwrap_err();
    assert_eq!(
        err,
        GraphError::DuplicateBranchLabel {
            label: "x".into(),
            revision: "bbbb".into(),
            other: "aaaa".into()
        }
    );
    let err = Graph::new(vec![
        node("aaaa", &[]),
        with_labels(node("bbbb", &["aaaa"]), &["aaaa"]),
    ])
    .unwrap_err();
    assert!(matches!(err, GraphError::DuplicateBranchLabel { .. }));
}

#[test]
fn new_refuses_ids_and_labels_that_identifiers_could_not_name() {
    for bad in [
        "", "ab-cd", "ab+cd", "ab@cd", "ab:cd", "a b", "head", "heads", "base",
    ] {
        let err = Graph::new(vec![node(bad, &[])]).unwrap_err();
        assert!(
            matches!(err, GraphError::InvalidId { .. }),
            "{bad:?}: {err}"
        );
    }
    for bad in ["", "a@b", "head"] {
        let err = Graph::new(vec![with_labels(node("aaaa", &[]), &[bad])]).unwrap_err();
        assert!(
            matches!(err, GraphError::InvalidId { .. }),
            "{bad:?}: {err}"
        );
    }
}

// --- shape ---

#[test]
fn a_linear_chain_has_one_head_and_one_base() {
    let graph = linear();
    assert_eq!(graph.len(), 4);
    assert_eq!(graph.heads(), vec!["4444dddd"]);
    assert_eq!(graph.bases(), vec!["1111aaaa"]);
    assert_eq!(
        graph.get("2222bbbb").unwrap().parents,
        strings(&["1111aaaa"])
    );
    assert!(graph.get("2222").is_none());
}

#[test]
fn a_forked_graph_lists_heads_and_bases_in_topological_order() {
    let graph = forked();
    // f6100 sits one above c3100 (depth 3), e5000 one above d4000
    // (depth 4), so f6100 sorts first.
    assert_eq!(graph.heads(), vec!["f6100", "e5000"]);
    assert_eq!(graph.bases(), vec!["a1000", "f6000"]);
}

#[test]
fn a_revision_only_depended_on_is_still_a_head() {
    let graph = Graph::new(vec![
        node("aaaa", &[]),
        node("bbbb", &[]),
        with_deps(node("cccc", &["bbbb"]), &["aaaa"]),
    ])
    .unwrap();
    assert_eq!(graph.heads(), vec!["aaaa", "cccc"]);
    // ...but `heads` as a target names only what nothing builds on.
    assert_eq!(graph.resolve("heads", &[]).unwrap(), strings(&["cccc"]));
}

#[test]
fn walk_newest_first_lists_a_chain_from_head_to_base() {
    let graph = linear();
    let ids: Vec<&str> = graph
        .walk_newest_first()
        .iter()
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(ids, vec!["4444dddd", "3333cccc", "2222bbbb", "1111aaaa"]);
}

#[test]
fn walk_newest_first_keeps_each_branch_together_and_children_before_parents() {
    let graph = forked();
    let ids: Vec<&str> = graph
        .walk_newest_first()
        .iter()
        .map(|n| n.id.as_str())
        .collect();
    // As `alembic history`: from the heads in id order (e5000 before
    // f6100), and down a merge's parents in declared order.
    assert_eq!(
        ids,
        vec![
            "e5000", "d4000", "f6100", "f6000", "c3100", "c3200", "b2000", "a1000"
        ]
    );
    let pos = |id: &str| ids.iter().position(|x| *x == id).unwrap();
    for n in graph.walk_newest_first() {
        for p in n.parents.iter().chain(&n.depends_on) {
            let p = graph.exact(p).map(|i| graph.nodes[i].id.as_str()).unwrap();
            assert!(pos(&n.id) < pos(p), "{} before {p}", n.id);
        }
    }
}

#[test]
fn node_order_does_not_depend_on_input_order() {
    let mut nodes: Vec<Node> = forked().nodes.clone();
    nodes.reverse();
    let again = Graph::new(nodes).unwrap();
    let ids = |g: &Graph| {
        g.walk_newest_first()
            .iter()
            .map(|n| n.id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&again), ids(&forked()));
}

// --- identifiers ---

#[test]
fn resolve_names_head_heads_and_base() {
    let graph = linear();
    assert_eq!(graph.resolve("head", &[]).unwrap(), strings(&["4444dddd"]));
    assert_eq!(graph.resolve("heads", &[]).unwrap(), strings(&["4444dddd"]));
    assert!(graph.resolve("base", &[]).unwrap().is_empty());
}

#[test]
fn resolve_refuses_head_when_there_are_several() {
    let err = forked().resolve("head", &[]).unwrap_err();
    assert_eq!(
        err,
        GraphError::MultipleHeads {
            heads: strings(&["f6100", "e5000"]),
            spec: "head".into()
        }
    );
    assert!(
        err.to_string()
            .contains("use `heads`, `<label>@head` or `aludel merge`")
    );
    assert_eq!(
        forked().resolve("heads", &[]).unwrap(),
        strings(&["f6100", "e5000"])
    );
}

#[test]
fn resolve_accepts_a_full_id_and_a_unique_prefix() {
    let graph = linear();
    assert_eq!(
        graph.resolve("2222bbbb", &[]).unwrap(),
        strings(&["2222bbbb"])
    );
    assert_eq!(graph.resolve("2222", &[]).unwrap(), strings(&["2222bbbb"]));
    assert_eq!(
        graph.resolve("2222bb", &[]).unwrap(),
        strings(&["2222bbbb"])
    );
}

#[test]
fn resolve_refuses_an_ambiguous_prefix_and_lists_the_candidates() {
    let graph = Graph::new(vec![node("abcd0002", &[]), node("abcd0001", &["abcd0002"])]).unwrap();
    let err = graph.resolve("abcd", &[]).unwrap_err();
    assert_eq!(
        err,
        GraphError::AmbiguousPrefix {
            prefix: "abcd".into(),
            candidates: strings(&["abcd0001", "abcd0002"])
        }
    );
    assert!(err.to_string().contains("abcd0001, abcd0002"));
}

#[test]
fn resolve_refuses_a_prefix_shorter_than_four_characters() {
    let err = linear().resolve("222", &[]).unwrap_err();
    assert_eq!(err, GraphError::PrefixTooShort("222".into()));
    assert!(err.to_string().contains("at least 4 characters"));
}

#[test]
fn resolve_accepts_an_exact_id_shorter_than_four_characters() {
    let graph = Graph::new(vec![node("a1", &[])]).unwrap();
    assert_eq!(graph.resolve("a1", &[]).unwrap(), strings(&["a1"]));
}

#[test]
fn resolve_refuses_an_unknown_revision() {
    let err = linear().resolve("9999", &[]).unwrap_err();
    assert_eq!(err, GraphError::UnknownRevision("9999".into()));
    assert!(matches!(
        linear().resolve("", &[]).unwrap_err(),
        GraphError::InvalidSpec { .. }
    ));
}

#[test]
fn resolve_refuses_a_current_revision_the_project_does_not_have() {
    let err = linear().resolve("head", &strings(&["gone"])).unwrap_err();
    assert_eq!(err, GraphError::UnknownCurrent("gone".into()));
    assert!(err.to_string().contains("aludel stamp"));
}

#[test]
fn plus_n_counts_up_from_the_current_revision_or_from_base() {
    let graph = linear();
    assert_eq!(graph.resolve("+1", &[]).unwrap(), strings(&["1111aaaa"]));
    assert_eq!(graph.resolve("+2", &[]).unwrap(), strings(&["2222bbbb"]));
    let cur = strings(&["2222bbbb"]);
    assert_eq!(graph.resolve("+2", &cur).unwrap(), strings(&["4444dddd"]));
}

#[test]
fn minus_n_counts_down_from_the_current_revision_to_base() {
    let graph = linear();
    let cur = strings(&["3333cccc"]);
    assert_eq!(graph.resolve("-1", &cur).unwrap(), strings(&["2222bbbb"]));
    assert!(graph.resolve("-3", &cur).unwrap().is_empty());
    assert_eq!(
        graph.resolve("-4", &cur).unwrap_err(),
        GraphError::RelativeTooFar {
            spec: "-4".into(),
            steps: 4,
            walked: 3
        }
    );
    assert_eq!(
        graph.resolve("-1", &[]).unwrap_err(),
        GraphError::RelativeTooFar {
            spec: "-1".into(),
            steps: 1,
            walked: 0
        }
    );
}

#[test]
fn plus_n_refuses_to_walk_past_the_head() {
    let graph = linear();
    let err = graph.resolve("+2", &strings(&["3333cccc"])).unwrap_err();
    assert_eq!(
        err,
        GraphError::RelativeTooFar {
            spec: "+2".into(),
            steps: 2,
            walked: 1
        }
    );
    assert!(matches!(
        graph.resolve("+5", &[]).unwrap_err(),
        GraphError::RelativeTooFar { walked: 4, .. }
    ));
}

#[test]
fn rev_plus_n_and_rev_minus_n_count_from_that_revision() {
    let graph = linear();
    let cur = strings(&["4444dddd"]);
    assert_eq!(
        graph.resolve("2222+1", &cur).unwrap(),
        strings(&["3333cccc"])
    );
    assert_eq!(
        graph.resolve("2222bbbb+2", &[]).unwrap(),
        strings(&["4444dddd"])
    );
    assert_eq!(
        graph.resolve("3333-2", &[]).unwrap(),
        strings(&["1111aaaa"])
    );
    assert!(graph.resolve("1111-1", &[]).unwrap().is_empty());
}

#[test]
fn head_minus_n_and_base_plus_n_count_from_the_ends() {
    let graph = linear();
    assert_eq!(
        graph.resolve("head-1", &[]).unwrap(),
        strings(&["3333cccc"])
    );
    assert_eq!(
        graph.resolve("head-3", &[]).unwrap(),
        strings(&["1111aaaa"])
    );
    assert_eq!(
        graph.resolve("base+1", &[]).unwrap(),
        strings(&["1111aaaa"])
    );
    assert_eq!(
        graph.resolve("base+4", &[]).unwrap(),
        strings(&["4444dddd"])
    );
    assert!(matches!(
        graph.resolve("base+5", &[]).unwrap_err(),
        GraphError::RelativeTooFar { walked: 4, .. }
    ));
    assert!(matches!(
        graph.resolve("head+1", &[]).unwrap_err(),
        GraphError::RelativeTooFar { walked: 0, .. }
    ));
}

#[test]
fn relative_forms_refuse_zero_and_trailing_text() {
    let graph = linear();
    assert!(matches!(
        graph.resolve("+0", &[]).unwrap_err(),
        GraphError::InvalidSpec { .. }
    ));
    assert!(matches!(
        graph.resolve("2222-0", &[]).unwrap_err(),
        GraphError::InvalidSpec { .. }
    ));
    assert_eq!(
        graph.resolve("2222+1x", &[]).unwrap_err(),
        GraphError::UnknownRevision("2222+1x".into())
    );
}

#[test]
fn relative_walks_refuse_to_choose_at_a_fork() {
    let graph = forked();
    let err = graph.resolve("b2000+1", &[]).unwrap_err();
    assert_eq!(
        err,
        GraphError::AmbiguousWalk {
            spec: "b2000+1".into(),
            at: "b2000".into(),
            choices: strings(&["c3100", "c3200"])
        }
    );
    assert!(matches!(
        graph.resolve("d4000-1", &[]).unwrap_err(),
        GraphError::AmbiguousWalk { .. }
    ));
    // Two bases: where `+1` starts from an empty database is a fork too.
    assert!(matches!(
        graph.resolve("+1", &[]).unwrap_err(),
        GraphError::AmbiguousWalk { at, .. } if at == "base"
    ));
    assert!(matches!(
        graph.resolve("head-1", &[]).unwrap_err(),
        GraphError::MultipleHeads { .. }
    ));
    assert!(
        graph
            .resolve("e5000-2", &[])
            .unwrap_err()
            .to_string()
            .contains("forks")
    );
}

#[test]
fn relative_forms_refuse_several_current_heads() {
    let graph = forked();
    let cur = strings(&["c3100", "c3200"]);
    for spec in ["+1", "-1"] {
        let err = graph.resolve(spec, &cur).unwrap_err();
        assert_eq!(
            err,
            GraphError::AmbiguousRelative {
                spec: spec.into(),
                current: strings(&["c3100", "c3200"])
            }
        );
    }
    assert_eq!(graph.resolve("c3200+1", &cur).unwrap(), strings(&["d4000"]));
}

#[test]
fn branch_labels_name_their_revision_and_their_head() {
    let graph = forked();
    assert_eq!(graph.resolve("x", &[]).unwrap(), strings(&["c3100"]));
    assert_eq!(graph.resolve("other", &[]).unwrap(), strings(&["f6000"]));
    assert_eq!(
        graph.resolve("other@head", &[]).unwrap(),
        strings(&["f6100"])
    );
    assert_eq!(graph.resolve("x@head", &[]).unwrap(), strings(&["e5000"]));
    assert_eq!(graph.resolve("x@c3100", &[]).unwrap(), strings(&["c3100"]));
    assert_eq!(graph.resolve("x-1", &[]).unwrap(), strings(&["b2000"]));
    assert_eq!(
        graph.resolve("x@c3200", &[]).unwrap_err(),
        GraphError::NotOnBranch {
            revision: "c3200".into(),
            label: "x".into()
        }
    );
    assert_eq!(
        graph.resolve("nope@head", &[]).unwrap_err(),
        GraphError::UnknownBranch("nope".into())
    );
}

#[test]
fn a_label_with_a_dash_is_not_read_as_a_relative_step() {
    let graph = Graph::new(vec![
        node("aaaa", &[]),
        with_labels(node("bbbb", &["aaaa"]), &["release-1"]),
    ])
    .unwrap();
    assert_eq!(graph.resolve("release-1", &[]).unwrap(), strings(&["bbbb"]));
}

// --- upgrade plans ---

#[test]
fn upgrade_from_empty_database_applies_the_chain_in_order() {
    let graph = linear();
    let steps = graph.upgrade_plan(&[], "head").unwrap();
    assert_eq!(
        ids_of(&steps),
        vec!["1111aaaa", "2222bbbb", "3333cccc", "4444dddd"]
    );
    assert!(steps.iter().all(|s| s.direction == Direction::Upgrade));
    assert_eq!(
        steps[0].change,
        VersionChange::Insert {
            id: "1111aaaa".into()
        }
    );
    assert_eq!(
        steps[1].change,
        VersionChange::Update {
            from: "1111aaaa".into(),
            to: "2222bbbb".into()
        }
    );
    let mut table = Vec::new();
    for step in &steps {
        step.apply(&mut table);
    }
    assert_eq!(table, strings(&["4444dddd"]));
}

#[test]
fn upgrade_from_the_middle_applies_only_what_is_missing() {
    let graph = linear();
    let cur = strings(&["2222bbbb"]);
    let steps = graph.upgrade_plan(&cur, "heads").unwrap();
    assert_eq!(ids_of(&steps), vec!["3333cccc", "4444dddd"]);
    let steps = graph.upgrade_plan(&cur, "+1").unwrap();
    assert_eq!(ids_of(&steps), vec!["3333cccc"]);
    let steps = graph.upgrade_plan(&[], "3333").unwrap();
    assert_eq!(ids_of(&steps), vec!["1111aaaa", "2222bbbb", "3333cccc"]);
}

#[test]
fn upgrade_to_an_applied_revision_is_an_empty_plan() {
    let graph = linear();
    let cur = strings(&["4444dddd"]);
    assert!(graph.upgrade_plan(&cur, "head").unwrap().is_empty());
    assert!(graph.upgrade_plan(&cur, "2222bbbb").unwrap().is_empty());
    assert!(graph.upgrade_plan(&cur, "base").unwrap().is_empty());
}

#[test]
fn upgrade_refuses_minus_n() {
    let err = linear()
        .upgrade_plan(&strings(&["4444dddd"]), "-1")
        .unwrap_err();
    assert_eq!(
        err,
        GraphError::WrongDirection {
            spec: "-1".into(),
            direction: Direction::Upgrade
        }
    );
}

#[test]
fn upgrade_refuses_head_with_several_heads() {
    assert!(matches!(
        forked().upgrade_plan(&[], "head").unwrap_err(),
        GraphError::MultipleHeads { .. }
    ));
}

#[test]
fn upgrade_of_a_forked_graph_inserts_branches_and_merges_them() {
    let graph = forked();
    let steps = graph.upgrade_plan(&[], "heads").unwrap();
    // Alembic's order (checked against Alembic 1.20.1): the walk starts
    // at e5000 (ids order the heads) and takes a merge's parents in
    // declared order, so f6100, which needs c3100, comes before d4000.
    assert_eq!(
        ids_of(&steps),
        vec![
            "a1000", "b2000", "c3200", "c3100", "f6000", "f6100", "d4000", "e5000"
        ]
    );
    let changes: Vec<&VersionChange> = steps.iter().map(|s| &s.change).collect();
    assert_eq!(
        changes,
        vec![
            &VersionChange::Insert { id: "a1000".into() },
            &VersionChange::Update {
                from: "a1000".into(),
                to: "b2000".into()
            },
            &VersionChange::Update {
                from: "b2000".into(),
                to: "c3200".into()
            },
            // b2000 has no row left: the second branch starts a row.
            &VersionChange::Insert { id: "c3100".into() },
            &VersionChange::Insert { id: "f6000".into() },
            // The dependency on c3100 joins its row, like a merge.
            &VersionChange::Merge {
                delete: strings(&["c3100"]),
                update_from: "f6000".into(),
                to: "f6100".into()
            },
            // c3100 has no row of its own any more.
            &VersionChange::Update {
                from: "c3200".into(),
                to: "d4000".into()
            },
            &VersionChange::Update {
                from: "d4000".into(),
                to: "e5000".into()
            },
        ]
    );
    assert_eq!(
        apply_strictly(&steps, &[]),
        ["e5000", "f6100"].map(String::from).into()
    );
}

#[test]
fn a_dependency_joins_the_rows_of_two_branches_like_a_merge() {
    let graph = forked();
    let cur = strings(&["c3100", "f6000"]);
    let steps = graph.upgrade_plan(&cur, "f6100").unwrap();
    assert_eq!(
        steps[0].change,
        VersionChange::Merge {
            delete: strings(&["c3100"]),
            update_from: "f6000".into(),
            to: "f6100".into()
        }
    );
}

#[test]
fn upgrade_of_a_merge_deletes_one_row_and_updates_the_other() {
    let graph = forked();
    let cur = strings(&["c3100", "c3200"]);
    let steps = graph.upgrade_plan(&cur, "d4000").unwrap();
    assert_eq!(
        steps,
        vec![Step {
            revision: "d4000".into(),
            direction: Direction::Upgrade,
            change: VersionChange::Merge {
                delete: strings(&["c3200"]),
                update_from: "c3100".into(),
                to: "d4000".into()
            }
        }]
    );
}

#[test]
fn upgrade_to_a_label_head_applies_that_branch_and_its_dependencies() {
    let graph = forked();
    let steps = graph.upgrade_plan(&[], "other@head").unwrap();
    assert_eq!(
        ids_of(&steps),
        vec!["a1000", "b2000", "c3100", "f6000", "f6100"]
    );
    assert_eq!(at(&graph, "other@head"), strings(&["f6100"]));
}

// --- downgrade plans ---

#[test]
fn downgrade_to_base_undoes_the_chain_newest_first() {
    let graph = linear();
    let cur = strings(&["4444dddd"]);
    let steps = graph.downgrade_plan(&cur, "base").unwrap();
    assert_eq!(
        ids_of(&steps),
        vec!["4444dddd", "3333cccc", "2222bbbb", "1111aaaa"]
    );
    assert!(steps.iter().all(|s| s.direction == Direction::Downgrade));
    assert_eq!(
        steps[0].change,
        VersionChange::Update {
            from: "4444dddd".into(),
            to: "3333cccc".into()
        }
    );
    assert_eq!(
        steps[3].change,
        VersionChange::Delete {
            id: "1111aaaa".into()
        }
    );
    let mut table = cur.clone();
    for step in &steps {
        step.apply(&mut table);
    }
    assert!(table.is_empty());
}

#[test]
fn downgrade_minus_n_and_to_an_id_undo_what_is_above_the_target() {
    let graph = linear();
    let cur = strings(&["4444dddd"]);
    assert_eq!(
        ids_of(&graph.downgrade_plan(&cur, "-1").unwrap()),
        vec!["4444dddd"]
    );
    assert_eq!(
        ids_of(&graph.downgrade_plan(&cur, "-2").unwrap()),
        vec!["4444dddd", "3333cccc"]
    );
    assert_eq!(
        ids_of(&graph.downgrade_plan(&cur, "2222").unwrap()),
        vec!["4444dddd", "3333cccc"]
    );
    assert_eq!(
        ids_of(&graph.downgrade_plan(&cur, "head-3").unwrap()),
        vec!["4444dddd", "3333cccc", "2222bbbb"]
    );
    assert!(graph.downgrade_plan(&cur, "4444dddd").unwrap().is_empty());
    assert!(graph.downgrade_plan(&[], "base").unwrap().is_empty());
}

#[test]
fn downgrade_refuses_a_target_that_is_not_applied() {
    let graph = linear();
    let cur = strings(&["2222bbbb"]);
    let err = graph.downgrade_plan(&cur, "3333cccc").unwrap_err();
    assert_eq!(
        err,
        GraphError::NotBelowCurrent {
            target: "3333cccc".into(),
            current: strings(&["2222bbbb"])
        }
    );
    assert!(matches!(
        graph.downgrade_plan(&[], "1111").unwrap_err(),
        GraphError::NotBelowCurrent { .. }
    ));
    assert!(err.to_string().contains("aludel current"));
}

#[test]
fn downgrade_refuses_plus_n_and_walking_past_base() {
    let graph = linear();
    let cur = strings(&["2222bbbb"]);
    assert_eq!(
        graph.downgrade_plan(&cur, "+1").unwrap_err(),
        GraphError::WrongDirection {
            spec: "+1".into(),
            direction: Direction::Downgrade
        }
    );
    assert!(matches!(
        graph.downgrade_plan(&cur, "-3").unwrap_err(),
        GraphError::RelativeTooFar { walked: 2, .. }
    ));
}

#[test]
fn downgrade_refuses_a_target_naming_several_revisions() {
    let graph = forked();
    let cur = strings(&["e5000", "f6100"]);
    assert!(matches!(
        graph.downgrade_plan(&cur, "heads").unwrap_err(),
        GraphError::MultipleHeads { .. }
    ));
}

#[test]
fn downgrade_below_a_merge_and_a_dependency_leaves_one_row_per_branch() {
    let graph = forked();
    let cur = strings(&["e5000", "f6100"]);
    let steps = graph.downgrade_plan(&cur, "b2000").unwrap();
    assert_eq!(
        ids_of(&steps),
        vec!["e5000", "d4000", "f6100", "c3100", "c3200"]
    );
    assert_eq!(
        steps[2].change,
        // Nothing applied needs c3100 any more (d4000 is undone), so it
        // gets a row back with f6000.
        VersionChange::Unmerge {
            from: "f6100".into(),
            to: strings(&["f6000", "c3100"])
        }
    );
    assert_eq!(
        apply_strictly(&steps, &cur),
        ["b2000", "f6000"].map(String::from).into()
    );
}

#[test]
fn downgrade_of_a_lone_merge_splits_its_row() {
    let graph = forked();
    let cur = strings(&["d4000"]);
    // d4000 has two parents: `-1` cannot choose between them.
    assert!(matches!(
        graph.downgrade_plan(&cur, "-1").unwrap_err(),
        GraphError::AmbiguousWalk { .. }
    ));
    // c3200 is no descendant of c3100, so it stays applied.
    let steps = graph.downgrade_plan(&cur, "c3100").unwrap();
    assert_eq!(
        steps,
        vec![Step {
            revision: "d4000".into(),
            direction: Direction::Downgrade,
            change: VersionChange::Unmerge {
                from: "d4000".into(),
                to: strings(&["c3100", "c3200"])
            }
        }]
    );
    let steps = graph.downgrade_plan(&cur, "b2000").unwrap();
    assert_eq!(ids_of(&steps), vec!["d4000", "c3100", "c3200"]);
    assert_eq!(
        apply_strictly(&steps, &cur),
        ["b2000"].map(String::from).into()
    );
}

/// Every pair of states in the forked graph: whatever the plan, applying
/// it row by row must succeed and leave exactly the rows of the revisions
/// nothing applied builds on.
#[test]
fn every_plan_between_any_two_states_keeps_the_version_table_exact() {
    check_every_plan(&forked());
    check_every_plan(&branchy());
}

fn check_every_plan(graph: &Graph) {
    let graph = graph.clone();
    let mut targets: Vec<String> = graph.nodes.iter().map(|n| n.id.clone()).collect();
    targets.push("base".into());
    targets.push("heads".into());
    for start in &targets {
        let start_steps = graph.upgrade_plan(&[], start).unwrap();
        let cur: Vec<String> = apply_strictly(&start_steps, &[]).into_iter().collect();
        let cur_idx = graph.current_indices(&cur).unwrap();
        let active = graph.ancestors(&cur_idx);
        assert_eq!(
            expected_rows(&graph, &active)
                .into_iter()
                .collect::<Vec<_>>(),
            cur
        );
        for target in &targets {
            let tgt = graph
                .resolve_target(target, &cur_idx, Mode::Any)
                .unwrap()
                .revs;

            let up = graph.upgrade_plan(&cur, target).unwrap();
            let mut applied = active.clone();
            applied.extend(graph.ancestors(&tgt));
            assert_eq!(
                apply_strictly(&up, &cur),
                expected_rows(&graph, &applied),
                "upgrade {start} -> {target}"
            );
            let order = ids_of(&up);
            for (k, step) in up.iter().enumerate() {
                for p in graph.get(&step.revision).unwrap().parents.iter() {
                    if let Some(pk) = order.iter().position(|x| x == p) {
                        assert!(pk < k, "{p} after {} in {order:?}", step.revision);
                    }
                }
            }

            match graph.downgrade_plan(&cur, target) {
                Ok(down) => {
                    let undone: BTreeSet<String> =
                        down.iter().map(|s| s.revision.clone()).collect();
                    let remaining: BTreeSet<usize> = active
                        .iter()
                        .copied()
                        .filter(|&i| !undone.contains(&graph.nodes[i].id))
                        .collect();
                    assert_eq!(
                        apply_strictly(&down, &cur),
                        expected_rows(&graph, &remaining),
                        "downgrade {start} -> {target}"
                    );
                    for t in &tgt {
                        assert!(remaining.contains(t), "{target} itself stays");
                    }
                }
                Err(GraphError::MultipleHeads { .. }) => assert!(tgt.len() > 1),
                // Either not applied, or applied only as a dependency of
                // a head, with nothing applied on its own line above it.
                Err(GraphError::NotBelowCurrent { .. }) => assert!(
                    tgt.iter().all(|t| {
                        !active.contains(t)
                            || graph.children[*t].iter().all(|c| !active.contains(c))
                    }),
                    "downgrade {start} -> {target}"
                ),
                Err(other) => panic!("downgrade {start} -> {target}: {other}"),
            }
        }
    }
}

// --- Step::apply ---

#[test]
fn apply_performs_each_version_table_change() {
    let step = |change| Step {
        revision: "r".into(),
        direction: Direction::Upgrade,
        change,
    };
    let mut table = strings(&["a", "b"]);
    step(VersionChange::Insert { id: "c".into() }).apply(&mut table);
    assert_eq!(table, strings(&["a", "b", "c"]));
    step(VersionChange::Update {
        from: "b".into(),
        to: "d".into(),
    })
    .apply(&mut table);
    assert_eq!(table, strings(&["a", "d", "c"]));
    step(VersionChange::Merge {
        delete: strings(&["a"]),
        update_from: "c".into(),
        to: "m".into(),
    })
    .apply(&mut table);
    assert_eq!(table, strings(&["d", "m"]));
    step(VersionChange::Unmerge {
        from: "m".into(),
        to: strings(&["a", "c"]),
    })
    .apply(&mut table);
    assert_eq!(table, strings(&["d", "a", "c"]));
    step(VersionChange::Delete { id: "d".into() }).apply(&mut table);
    assert_eq!(table, strings(&["a", "c"]));
}

// --- the fixture with three branches, a merge, a dependency, two bases ---

/// Three branches leave `bbbb0002`; `alpha` and `beta` merge again;
/// `kkkk0002`, on a second base, depends on the `beta` branch:
///
/// ```text
/// aaaa0001 ── bbbb0002 ─┬─ cccc0003 (alpha) ── dddd0004 ─┬─ mmmm0005 ── dddd0006
///                       ├─ eeee0003 (beta) ─── ffff0004 ─┘
///                       └─ cccc1003 (gamma) ── gggg0004
/// kkkk0001 (infra) ── kkkk0002 ── kkkk0003
///                        ╰─ depends on beta (eeee0003)
/// ```
///
/// Heads: dddd0006, gggg0004, kkkk0003. Prefixes `cccc`, `dddd` and
/// `kkkk` are ambiguous; `cccc` is not once a branch is named.
fn branchy() -> Graph {
    Graph::new(vec![
        node("dddd0006", &["mmmm0005"]),
        node("mmmm0005", &["dddd0004", "ffff0004"]),
        node("dddd0004", &["cccc0003"]),
        with_labels(node("cccc0003", &["bbbb0002"]), &["alpha"]),
        node("ffff0004", &["eeee0003"]),
        with_labels(node("eeee0003", &["bbbb0002"]), &["beta"]),
        node("gggg0004", &["cccc1003"]),
        with_labels(node("cccc1003", &["bbbb0002"]), &["gamma"]),
        node("bbbb0002", &["aaaa0001"]),
        node("aaaa0001", &[]),
        node("kkkk0003", &["kkkk0002"]),
        with_deps(node("kkkk0002", &["kkkk0001"]), &["beta"]),
        with_labels(node("kkkk0001", &[]), &["infra"]),
    ])
    .unwrap()
}

const ALL_HEADS: [&str; 3] = ["dddd0006", "gggg0004", "kkkk0003"];

fn one(graph: &Graph, spec: &str, current: &[&str]) -> Vec<String> {
    graph.resolve(spec, &strings(current)).unwrap()
}

fn sorted(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v
}

#[test]
fn the_fixture_has_three_heads_two_bases_and_one_branch_point() {
    let graph = branchy();
    assert_eq!(sorted(graph.heads()), ALL_HEADS.to_vec());
    assert_eq!(graph.bases(), vec!["aaaa0001", "kkkk0001"]);
    assert_eq!(graph.branch_points(), vec!["bbbb0002"]);
    assert_eq!(
        graph.children("bbbb0002"),
        vec!["cccc0003", "cccc1003", "eeee0003"]
    );
    assert_eq!(graph.children("eeee0003"), vec!["ffff0004"]);
    assert_eq!(graph.dependents("eeee0003"), vec!["kkkk0002"]);
    assert!(graph.children("nope").is_empty());
    assert!(graph.is_head("gggg0004") && !graph.is_head("eeee0003"));
    assert!(graph.is_base("kkkk0001") && !graph.is_base("kkkk0002"));
    assert!(graph.is_branch_point("bbbb0002") && !graph.is_branch_point("eeee0003"));
    assert!(graph.is_merge_point("mmmm0005") && !graph.is_merge_point("kkkk0002"));
    assert!(!graph.is_head("nope") && !graph.is_base("nope"));
}

#[test]
fn a_branch_label_covers_its_branch_above_and_down_to_the_branch_point() {
    let graph = branchy();
    assert_eq!(graph.branch_labels("dddd0006"), vec!["alpha", "beta"]);
    assert_eq!(graph.branch_labels("ffff0004"), vec!["beta"]);
    assert_eq!(graph.branch_labels("gggg0004"), vec!["gamma"]);
    assert_eq!(graph.branch_labels("kkkk0003"), vec!["infra"]);
    assert!(graph.branch_labels("bbbb0002").is_empty());
    // Declared labels stay as they were written.
    assert!(graph.get("gggg0004").unwrap().branch_labels.is_empty());
    // Below the label, down to a branch point (none here: a base).
    let graph = Graph::new(vec![
        node("aaaa", &[]),
        with_labels(node("bbbb", &["aaaa"]), &["x"]),
    ])
    .unwrap();
    assert_eq!(graph.branch_labels("aaaa"), vec!["x"]);
}

#[test]
fn a_full_id_a_unique_prefix_and_a_branch_label_each_name_one_revision() {
    let graph = branchy();
    assert_eq!(one(&graph, "dddd0004", &[]), strings(&["dddd0004"]));
    assert_eq!(one(&graph, "ffff", &[]), strings(&["ffff0004"]));
    assert_eq!(one(&graph, "mmmm00", &[]), strings(&["mmmm0005"]));
    assert_eq!(one(&graph, "beta", &[]), strings(&["eeee0003"]));
    assert_eq!(one(&graph, "infra", &[]), strings(&["kkkk0001"]));
}

#[test]
fn an_ambiguous_prefix_lists_its_candidates_unless_a_branch_settles_it() {
    let graph = branchy();
    assert_eq!(
        graph.resolve("cccc", &[]).unwrap_err(),
        GraphError::AmbiguousPrefix {
            prefix: "cccc".into(),
            candidates: strings(&["cccc0003", "cccc1003"])
        }
    );
    assert_eq!(one(&graph, "gamma@cccc", &[]), strings(&["cccc1003"]));
    assert_eq!(one(&graph, "alpha@cccc", &[]), strings(&["cccc0003"]));
    assert_eq!(
        graph.resolve("ccc", &[]).unwrap_err(),
        GraphError::PrefixTooShort("ccc".into())
    );
}

#[test]
fn head_is_refused_with_three_heads_while_heads_and_base_resolve() {
    let graph = branchy();
    let err = graph.resolve("head", &[]).unwrap_err();
    let GraphError::MultipleHeads { heads, spec } = &err else {
        panic!("{err}");
    };
    assert_eq!(spec, "head");
    assert_eq!(
        sorted(heads.iter().map(String::as_str).collect()),
        ALL_HEADS
    );
    let message = err.to_string();
    for fix in ["`heads`", "`<label>@head`", "`aludel merge`"] {
        assert!(message.contains(fix), "{message}");
    }
    let heads = one(&graph, "heads", &[]);
    assert_eq!(
        sorted(heads.iter().map(String::as_str).collect()),
        ALL_HEADS
    );
    assert!(one(&graph, "base", &[]).is_empty());
}

#[test]
fn label_at_head_is_the_head_of_the_lineage_carrying_the_label() {
    let graph = branchy();
    assert_eq!(one(&graph, "alpha@head", &[]), strings(&["dddd0006"]));
    assert_eq!(one(&graph, "beta@head", &[]), strings(&["dddd0006"]));
    assert_eq!(one(&graph, "gamma@head", &[]), strings(&["gggg0004"]));
    assert_eq!(one(&graph, "infra@head", &[]), strings(&["kkkk0003"]));
    assert_eq!(one(&graph, "gamma@heads", &[]), strings(&["gggg0004"]));
    // `rev@head`: the head above a revision.
    assert_eq!(one(&graph, "cccc0003@head", &[]), strings(&["dddd0006"]));
    assert_eq!(one(&graph, "ffff@head", &[]), strings(&["dddd0006"]));
    let err = graph.resolve("bbbb0002@head", &[]).unwrap_err();
    assert_eq!(
        err,
        GraphError::MultipleHeads {
            heads: strings(&["gggg0004", "dddd0006"]),
            spec: "bbbb0002@head".into()
        }
    );
    assert_eq!(
        one(&graph, "bbbb0002@heads", &[]),
        strings(&["gggg0004", "dddd0006"])
    );
}

#[test]
fn label_at_base_is_base_and_a_downgrade_to_it_stays_on_that_base() {
    let graph = branchy();
    assert!(one(&graph, "gamma@base", &[]).is_empty());
    let cur = strings(&ALL_HEADS);
    let steps = graph.downgrade_plan(&cur, "infra@base").unwrap();
    assert_eq!(ids_of(&steps), vec!["kkkk0003", "kkkk0002", "kkkk0001"]);
    assert_eq!(
        apply_strictly(&steps, &cur),
        ["dddd0006", "gggg0004"].map(String::from).into()
    );
    // The other base carries beta, on which kkkk0002 depends: that goes
    // too, and infra is left at its base.
    let steps = graph.downgrade_plan(&cur, "gamma@base").unwrap();
    assert_eq!(
        apply_strictly(&steps, &cur),
        ["kkkk0001"].map(String::from).into()
    );
}

#[test]
fn label_at_revision_must_be_on_that_branch() {
    let graph = branchy();
    assert_eq!(one(&graph, "gamma@gggg0004", &[]), strings(&["gggg0004"]));
    assert_eq!(one(&graph, "alpha@bbbb0002", &[]), strings(&["bbbb0002"]));
    let err = graph.resolve("gamma@ffff0004", &[]).unwrap_err();
    assert_eq!(
        err,
        GraphError::NotOnBranch {
            revision: "ffff0004".into(),
            label: "gamma".into()
        }
    );
    assert!(err.to_string().contains("drop `gamma@`"));
    assert_eq!(
        graph.resolve("nope@head", &[]).unwrap_err(),
        GraphError::UnknownBranch("nope".into())
    );
    assert!(matches!(
        graph.resolve("@head", &[]).unwrap_err(),
        GraphError::InvalidSpec { .. }
    ));
    assert!(matches!(
        graph.resolve("gamma@", &[]).unwrap_err(),
        GraphError::InvalidSpec { .. }
    ));
}

#[test]
fn plus_n_counts_up_from_the_one_current_head() {
    let graph = branchy();
    assert_eq!(one(&graph, "+1", &["cccc0003"]), strings(&["dddd0004"]));
    assert_eq!(one(&graph, "+2", &["kkkk0001"]), strings(&["kkkk0003"]));
    // From an empty database, two bases make `+1` ambiguous.
    assert!(matches!(
        graph.resolve("+1", &[]).unwrap_err(),
        GraphError::AmbiguousWalk { at, .. } if at == "base"
    ));
    let err = graph.resolve("+1", &strings(&["bbbb0002"])).unwrap_err();
    assert_eq!(
        err,
        GraphError::AmbiguousWalk {
            spec: "+1".into(),
            at: "bbbb0002".into(),
            choices: strings(&["cccc0003", "cccc1003", "eeee0003"])
        }
    );
    assert!(err.to_string().contains("`<label>@+1`"));
    assert!(matches!(
        graph.resolve("+1", &strings(&["gggg0004"])).unwrap_err(),
        GraphError::RelativeTooFar {
            steps: 1,
            walked: 0,
            ..
        }
    ));
}

#[test]
fn label_at_plus_n_walks_up_the_labelled_branch() {
    let graph = branchy();
    let steps = graph
        .upgrade_plan(&strings(&["bbbb0002"]), "gamma@+1")
        .unwrap();
    assert_eq!(ids_of(&steps), vec!["cccc1003"]);
    assert_eq!(
        one(&graph, "gamma@+2", &["bbbb0002"]),
        strings(&["gggg0004"])
    );
    // Nothing of alpha applied: count from base, along alpha's lineage.
    assert_eq!(one(&graph, "alpha@+1", &[]), strings(&["aaaa0001"]));
    assert_eq!(one(&graph, "alpha@+3", &[]), strings(&["cccc0003"]));
    // No row on gamma, but its lower part is applied under alpha's row.
    assert_eq!(
        one(&graph, "gamma@+1", &["dddd0004"]),
        strings(&["cccc1003"])
    );
    let steps = graph
        .upgrade_plan(&strings(&["dddd0006"]), "infra@+2")
        .unwrap();
    assert_eq!(ids_of(&steps), vec!["kkkk0001", "kkkk0002"]);
    assert!(matches!(
        graph
            .resolve("gamma@+3", &strings(&["bbbb0002"]))
            .unwrap_err(),
        GraphError::RelativeTooFar { walked: 2, .. }
    ));
    assert!(matches!(
        graph
            .downgrade_plan(&strings(&["bbbb0002"]), "gamma@+1")
            .unwrap_err(),
        GraphError::WrongDirection { .. }
    ));
}

#[test]
fn label_at_minus_n_counts_down_from_the_current_head_of_that_branch() {
    let graph = branchy();
    let cur = strings(&ALL_HEADS);
    assert_eq!(one(&graph, "gamma@-1", &ALL_HEADS), strings(&["cccc1003"]));
    let steps = graph.downgrade_plan(&cur, "gamma@-1").unwrap();
    assert_eq!(ids_of(&steps), vec!["gggg0004"]);
    let steps = graph.downgrade_plan(&cur, "infra@-2").unwrap();
    assert_eq!(ids_of(&steps), vec!["kkkk0003", "kkkk0002"]);
    assert_eq!(
        apply_strictly(&steps, &cur),
        ["dddd0006", "gggg0004", "kkkk0001"]
            .map(String::from)
            .into()
    );
    let steps = graph.downgrade_plan(&cur, "alpha@-1").unwrap();
    assert_eq!(ids_of(&steps), vec!["dddd0006"]);
    // Below the merge the branch forks.
    assert!(matches!(
        graph.downgrade_plan(&cur, "alpha@-2").unwrap_err(),
        GraphError::AmbiguousWalk { at, .. } if at == "mmmm0005"
    ));
    assert!(matches!(
        graph.upgrade_plan(&cur, "gamma@-1").unwrap_err(),
        GraphError::WrongDirection { .. }
    ));
    // Nothing of gamma applied: there is nothing to count down from.
    assert!(matches!(
        graph
            .downgrade_plan(&strings(&["kkkk0001"]), "gamma@-1")
            .unwrap_err(),
        GraphError::RelativeTooFar { walked: 0, .. }
    ));
}

#[test]
fn minus_n_counts_down_from_the_one_current_head() {
    let graph = branchy();
    let cur = strings(&["gggg0004"]);
    assert_eq!(one(&graph, "-2", &["gggg0004"]), strings(&["bbbb0002"]));
    let steps = graph.downgrade_plan(&cur, "-2").unwrap();
    assert_eq!(ids_of(&steps), vec!["gggg0004", "cccc1003"]);
    let err = graph
        .downgrade_plan(&strings(&ALL_HEADS), "-1")
        .unwrap_err();
    assert!(matches!(err, GraphError::AmbiguousRelative { .. }), "{err}");
    assert!(err.to_string().contains("`<rev>-N`"));
    assert!(matches!(
        graph.downgrade_plan(&cur, "-5").unwrap_err(),
        GraphError::RelativeTooFar {
            steps: 5,
            walked: 4,
            ..
        }
    ));
}

#[test]
fn rev_plus_n_rev_minus_n_head_minus_n_and_base_plus_n_count_from_their_symbol() {
    let graph = branchy();
    assert_eq!(one(&graph, "bbbb0002-1", &[]), strings(&["aaaa0001"]));
    assert_eq!(one(&graph, "aaaa+1", &[]), strings(&["bbbb0002"]));
    assert_eq!(one(&graph, "gggg0004-3", &[]), strings(&["aaaa0001"]));
    assert!(one(&graph, "gggg0004-4", &[]).is_empty());
    assert!(matches!(
        graph.resolve("gggg0004-5", &[]).unwrap_err(),
        GraphError::RelativeTooFar { walked: 4, .. }
    ));
    assert_eq!(one(&graph, "infra@kkkk0001+2", &[]), strings(&["kkkk0003"]));
    assert_eq!(one(&graph, "gamma@bbbb+1", &[]), strings(&["cccc1003"]));
    assert_eq!(one(&graph, "gamma@head-1", &[]), strings(&["cccc1003"]));
    assert_eq!(one(&graph, "infra@base+1", &[]), strings(&["kkkk0001"]));
    assert!(matches!(
        graph.resolve("head-1", &[]).unwrap_err(),
        GraphError::MultipleHeads { .. }
    ));
    assert!(matches!(
        graph.resolve("base+1", &[]).unwrap_err(),
        GraphError::AmbiguousWalk { .. }
    ));
    assert!(matches!(
        graph.resolve("bbbb0002+1", &[]).unwrap_err(),
        GraphError::AmbiguousWalk { .. }
    ));
    let single = linear();
    assert_eq!(
        single.resolve("head-2", &[]).unwrap(),
        strings(&["2222bbbb"])
    );
    assert_eq!(
        single.resolve("base+2", &[]).unwrap(),
        strings(&["2222bbbb"])
    );
}

#[test]
fn a_downgrade_target_must_be_below_the_current_heads() {
    let graph = branchy();
    let err = graph
        .downgrade_plan(&strings(&["gggg0004"]), "dddd0004")
        .unwrap_err();
    assert_eq!(
        err,
        GraphError::NotBelowCurrent {
            target: "dddd0004".into(),
            current: strings(&["gggg0004"])
        }
    );
}

#[test]
fn the_fixture_refuses_a_duplicate_id_a_missing_parent_and_a_cycle() {
    let nodes = branchy().nodes.clone();
    let mut dup = nodes.clone();
    dup.push(node("bbbb0002", &[]));
    assert_eq!(
        Graph::new(dup).unwrap_err(),
        GraphError::DuplicateId("bbbb0002".into())
    );
    let missing: Vec<Node> = nodes
        .iter()
        .filter(|n| n.id != "bbbb0002")
        .cloned()
        .collect();
    assert!(matches!(
        Graph::new(missing).unwrap_err(),
        GraphError::MissingParent { parent, .. } if parent == "bbbb0002"
    ));
    let mut cycle = nodes.clone();
    for n in &mut cycle {
        if n.id == "kkkk0001" {
            n.depends_on = strings(&["kkkk0003"]);
        }
    }
    assert_eq!(
        Graph::new(cycle).unwrap_err(),
        GraphError::Cycle(strings(&["kkkk0001", "kkkk0002", "kkkk0003"]))
    );
}

// --- stamp ---

fn stamp(graph: &Graph, current: &[&str], targets: &[&str], purge: bool) -> Vec<Step> {
    graph
        .stamp_plan(&strings(current), &strings(targets), purge)
        .unwrap()
}

fn table_after(steps: &[Step], current: &[&str]) -> Vec<String> {
    let mut table = strings(current);
    for step in steps {
        step.apply(&mut table);
    }
    table.sort();
    table
}

#[test]
fn stamp_heads_on_an_empty_table_inserts_every_head() {
    let graph = branchy();
    let steps = stamp(&graph, &[], &["heads"], false);
    assert!(
        steps
            .iter()
            .all(|s| matches!(s.change, VersionChange::Insert { .. }))
    );
    assert_eq!(table_after(&steps, &[]), strings(&ALL_HEADS));
    assert!(stamp(&graph, &ALL_HEADS, &["heads"], false).is_empty());
}

#[test]
fn stamp_up_to_a_merge_joins_the_rows_below_it() {
    let graph = branchy();
    let steps = stamp(&graph, &["dddd0004", "ffff0004"], &["mmmm0005"], false);
    assert_eq!(
        steps,
        vec![Step {
            revision: "mmmm0005".into(),
            direction: Direction::Upgrade,
            change: VersionChange::Merge {
                delete: strings(&["dddd0004"]),
                update_from: "ffff0004".into(),
                to: "mmmm0005".into()
            }
        }]
    );
}

#[test]
fn stamp_down_moves_the_row_and_a_second_target_gets_its_own_row() {
    let graph = branchy();
    let steps = stamp(&graph, &["dddd0006"], &["cccc0003", "ffff0004"], false);
    assert_eq!(
        steps[0].change,
        VersionChange::Update {
            from: "dddd0006".into(),
            to: "cccc0003".into()
        }
    );
    assert_eq!(steps[0].direction, Direction::Downgrade);
    // Alembic's HeadMaintainer fails here (the row already moved).
    assert_eq!(
        steps[1].change,
        VersionChange::Insert {
            id: "ffff0004".into()
        }
    );
    assert_eq!(
        table_after(&steps, &["dddd0006"]),
        strings(&["cccc0003", "ffff0004"])
    );
}

#[test]
fn stamp_base_deletes_rows_and_label_at_base_only_that_branch() {
    let graph = branchy();
    let steps = stamp(&graph, &ALL_HEADS, &["base"], false);
    assert!(table_after(&steps, &ALL_HEADS).is_empty());
    assert_eq!(stamp(&graph, &ALL_HEADS, &[], false), steps);
    let steps = stamp(&graph, &ALL_HEADS, &["gamma@base"], false);
    assert_eq!(
        steps,
        vec![Step {
            revision: "gggg0004".into(),
            direction: Direction::Downgrade,
            change: VersionChange::Delete {
                id: "gggg0004".into()
            }
        }]
    );
}

#[test]
fn stamp_of_a_revision_on_no_current_branch_inserts_a_row() {
    let graph = branchy();
    let steps = stamp(&graph, &["dddd0006"], &["infra"], false);
    assert_eq!(
        steps[0].change,
        VersionChange::Insert {
            id: "kkkk0001".into()
        }
    );
}

#[test]
fn stamp_minus_n_walks_down_from_every_head_of_the_project_on_an_empty_table() {
    let graph = branchy();
    let steps = stamp(&graph, &[], &["-1"], false);
    assert_eq!(
        table_after(&steps, &[]),
        strings(&["cccc1003", "kkkk0002", "mmmm0005"])
    );
    let steps = stamp(&graph, &["dddd0006"], &["gamma@-1"], true);
    assert_eq!(table_after(&steps, &["dddd0006"]), strings(&["cccc1003"]));
    // Walking exactly to base is `base` for that head.
    let steps = stamp(&graph, &[], &["infra@-3"], false);
    assert!(steps.is_empty());
    let err = graph
        .stamp_plan(&[], &strings(&["infra@-4"]), false)
        .unwrap_err();
    assert!(matches!(err, GraphError::RelativeTooFar { .. }), "{err}");
    // Alembic's lineage filter refuses `-N` once the table has rows.
    let err = graph
        .stamp_plan(&strings(&["gggg0004"]), &strings(&["-1"]), false)
        .unwrap_err();
    assert!(matches!(err, GraphError::StampRelativeNotEmpty { .. }));
    assert!(err.to_string().contains("--purge"), "{err}");
    for spec in [
        "+1",
        "gggg0004-1",
        "head-1",
        "heads-1",
        "base+1",
        "gamma@+1",
        "gamma@head-1",
    ] {
        let err = graph.stamp_plan(&[], &strings(&[spec]), false).unwrap_err();
        assert_eq!(err, GraphError::StampRelative { spec: spec.into() });
        assert!(err.to_string().contains("name the revision"), "{err}");
    }
    assert_eq!(
        graph
            .stamp_plan(&[], &strings(&["cccc0003@-1"]), false)
            .unwrap_err(),
        GraphError::UnknownBranch("cccc0003".into())
    );
}

#[test]
fn stamp_names_a_revision_once_however_often_it_is_named() {
    let graph = branchy();
    let steps = stamp(&graph, &[], &["heads", "gggg0004", "gamma@heads"], false);
    assert_eq!(table_after(&steps, &[]), strings(&ALL_HEADS));
}

#[test]
fn upgrade_refuses_several_targets_on_one_line() {
    // cccc0003 depends on bbbb0002, so `beta@heads` names two heads
    // (plain ones: nothing names them as a parent), one of which needs
    // the other; Alembic refuses too.
    let graph = Graph::new(vec![
        with_labels(node("aaaa0001", &[]), &["beta"]),
        node("bbbb0002", &["aaaa0001"]),
        with_deps(node("cccc0003", &["aaaa0001"]), &["bbbb0002"]),
    ])
    .unwrap();
    let err = graph.upgrade_plan(&[], "beta@heads").unwrap_err();
    assert_eq!(
        err,
        GraphError::OverlappingHeads {
            spec: "beta@heads".into(),
            lower: "bbbb0002".into(),
            upper: "cccc0003".into()
        }
    );
    assert!(graph.upgrade_plan(&[], "heads").is_ok());
}

#[test]
fn downgrade_reads_label_at_head_as_the_head_of_the_project() {
    let graph = branchy();
    let cur = strings(&ALL_HEADS);
    for spec in ["gamma@head", "gamma@heads"] {
        let err = graph.downgrade_plan(&cur, spec).unwrap_err();
        assert!(
            matches!(&err, GraphError::DowngradeSeveralHeads { heads, .. } if heads.len() == 3),
            "{err}"
        );
        assert!(err.to_string().contains("name the revision"), "{err}");
    }
    let graph = linear();
    let cur = strings(&["4444dddd"]);
    assert!(
        graph
            .downgrade_plan(&cur, "2222bbbb@head")
            .unwrap()
            .is_empty()
    );
    assert!(
        graph
            .downgrade_plan(&cur, "2222bbbb@heads")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn plans_start_from_the_heads_in_id_order_whatever_their_depth() {
    // Alembic sorts the heads by file name (`<id>_<slug>`): the deeper
    // head `aaaa0003` comes first, so its branch is downgraded first.
    let graph = Graph::new(vec![
        node("bbbb0001", &[]),
        node("cccc0002", &["bbbb0001"]),
        node("aaaa0003", &["cccc0002"]),
        node("ffff0002", &["bbbb0001"]),
    ])
    .unwrap();
    let cur = strings(&["aaaa0003", "ffff0002"]);
    let steps = graph.downgrade_plan(&cur, "base").unwrap();
    assert_eq!(
        ids_of(&steps),
        vec!["aaaa0003", "cccc0002", "ffff0002", "bbbb0001"]
    );
    let steps = graph.upgrade_plan(&[], "heads").unwrap();
    assert_eq!(
        ids_of(&steps),
        vec!["bbbb0001", "ffff0002", "cccc0002", "aaaa0003"]
    );
}

#[test]
fn plan_order_follows_alembics_normalized_down_revisions() {
    // aaaa0005 depends on cccc0003, already its grandparent: Alembic
    // keeps that dependency (no ancestor declares it) and walks it as a
    // down revision of its own, which puts cccc0003 before bbbb0002
    // (without it: aaaa0001, bbbb0002, cccc0003; checked with Alembic).
    let graph = Graph::new(vec![
        node("aaaa0001", &[]),
        node("bbbb0002", &["aaaa0001"]),
        node("cccc0003", &["aaaa0001"]),
        node("dddd0004", &["cccc0003"]),
        with_deps(node("aaaa0005", &["dddd0004"]), &["cccc0003"]),
    ])
    .unwrap();
    let at = graph.index("aaaa0005").unwrap();
    assert_eq!(
        graph.owned_ids(&graph.alembic_down[at]),
        strings(&["dddd0004", "cccc0003"])
    );
    assert_eq!(graph.owned_ids(&graph.down[at]), strings(&["dddd0004"]));
    let steps = graph.upgrade_plan(&[], "heads").unwrap();
    assert_eq!(
        ids_of(&steps),
        vec!["aaaa0001", "cccc0003", "bbbb0002", "dddd0004", "aaaa0005"]
    );
}

#[test]
fn stamp_with_purge_deletes_every_row_first_even_unknown_ones() {
    let graph = branchy();
    let steps = stamp(&graph, &["gone", "dddd0006", "gone"], &["gggg0004"], true);
    let changes: Vec<&VersionChange> = steps.iter().map(|s| &s.change).collect();
    assert_eq!(
        changes,
        vec![
            &VersionChange::Delete { id: "gone".into() },
            &VersionChange::Delete {
                id: "dddd0006".into()
            },
            &VersionChange::Insert {
                id: "gggg0004".into()
            },
        ]
    );
    assert_eq!(
        graph
            .stamp_plan(&strings(&["gone"]), &strings(&["gggg0004"]), false)
            .unwrap_err(),
        GraphError::UnknownCurrent("gone".into())
    );
    assert!(stamp(&graph, &["dddd0006"], &["base"], true).len() == 1);
}

#[test]
fn stamp_refuses_two_targets_on_one_line() {
    let err = branchy()
        .stamp_plan(&[], &strings(&["bbbb0002", "gggg0004"]), false)
        .unwrap_err();
    assert_eq!(
        err,
        GraphError::OverlappingTargets {
            lower: "bbbb0002".into(),
            upper: "gggg0004".into()
        }
    );
    assert!(err.to_string().contains("stamp only `gggg0004`"));
}

// --- history ranges ---

fn range_ids(
    graph: &Graph,
    lower: Option<&str>,
    upper: Option<&str>,
    current: &[&str],
) -> Vec<String> {
    graph
        .range(lower, upper, &strings(current))
        .unwrap()
        .iter()
        .map(|n| n.id.clone())
        .collect()
}

#[test]
fn range_without_ends_is_the_whole_history_newest_first() {
    let graph = branchy();
    let all: Vec<String> = graph
        .walk_newest_first()
        .iter()
        .map(|n| n.id.clone())
        .collect();
    assert_eq!(range_ids(&graph, None, None, &[]), all);
}

#[test]
fn range_lists_the_lower_end_and_what_the_upper_end_needs_above_it() {
    let graph = branchy();
    assert_eq!(
        range_ids(&graph, Some("cccc1003"), None, &[]),
        strings(&["gggg0004", "cccc1003"])
    );
    assert_eq!(
        sorted(
            range_ids(&graph, Some("bbbb0002"), Some("mmmm0005"), &[])
                .iter()
                .map(String::as_str)
                .collect()
        ),
        vec![
            "bbbb0002", "cccc0003", "dddd0004", "eeee0003", "ffff0004", "mmmm0005"
        ]
    );
    // Only what is above kkkk0001 through parents, not its dependency.
    assert_eq!(
        range_ids(&graph, Some("kkkk0001"), None, &[]),
        strings(&["kkkk0003", "kkkk0002", "kkkk0001"])
    );
    assert_eq!(
        range_ids(&graph, Some("cccc1003"), Some("+1"), &[]),
        strings(&["gggg0004", "cccc1003"])
    );
    assert_eq!(
        range_ids(&graph, Some("-1"), Some("gamma@head"), &[]),
        strings(&["gggg0004", "cccc1003"])
    );
}

#[test]
fn range_takes_current_for_either_end() {
    let graph = branchy();
    assert_eq!(
        range_ids(&graph, Some("current"), None, &["cccc1003"]),
        strings(&["gggg0004", "cccc1003"])
    );
    assert_eq!(
        range_ids(&graph, None, Some("current"), &["cccc1003"]),
        strings(&["cccc1003", "bbbb0002", "aaaa0001"])
    );
}

#[test]
fn range_refuses_a_lower_end_that_is_not_below_the_upper_end() {
    let graph = branchy();
    let err = graph
        .range(Some("gggg0004"), Some("cccc1003"), &[])
        .unwrap_err();
    assert_eq!(
        err,
        GraphError::RangeNotAncestor {
            lower: "gggg0004".into(),
            upper: "cccc1003".into()
        }
    );
    assert!(err.to_string().contains("swap"));
}

// --- partial ids and names, for any list of ids ---

#[test]
fn an_exact_match_wins_even_when_it_is_shorter_than_a_partial_id_may_be() {
    assert_eq!(resolve_prefix("a1", ["a1", "a1b2c3"]), Ok("a1"));
}

#[test]
fn an_exact_match_wins_over_the_longer_ids_it_starts() {
    assert_eq!(
        resolve_prefix("abcd", ["abcd01", "abcd", "abcd02"]),
        Ok("abcd")
    );
}

#[test]
fn a_prefix_shorter_than_four_characters_is_too_short_even_if_it_starts_one_id() {
    assert_eq!(
        resolve_prefix("abc", ["abcd0001"]),
        Err(GraphError::PrefixTooShort("abc".into()))
    );
    assert_eq!(
        resolve_prefix("", ["abcd0001"]),
        Err(GraphError::PrefixTooShort(String::new()))
    );
}

#[test]
fn a_prefix_that_starts_no_candidate_is_an_unknown_revision() {
    assert_eq!(
        resolve_prefix("9999", ["abcd0001", "bcde0002"]),
        Err(GraphError::UnknownRevision("9999".into()))
    );
    assert_eq!(
        resolve_prefix("9999", []),
        Err(GraphError::UnknownRevision("9999".into()))
    );
}

#[test]
fn a_prefix_that_starts_one_candidate_names_it_however_often_it_is_listed() {
    let log = ["abcd0001", "bcde0002", "abcd0001", "abcd0001"];
    assert_eq!(resolve_prefix("abcd", log), Ok("abcd0001"));
    assert_eq!(resolve_prefix("bcde00", log), Ok("bcde0002"));
}

#[test]
fn a_prefix_that_starts_several_candidates_lists_each_once_in_order() {
    let err = resolve_prefix("abcd", ["abcd0002", "ffff0000", "abcd0001", "abcd0002"]).unwrap_err();
    assert_eq!(
        err,
        GraphError::AmbiguousPrefix {
            prefix: "abcd".into(),
            candidates: strings(&["abcd0001", "abcd0002"])
        }
    );
    assert!(err.to_string().contains("abcd0001, abcd0002"), "{err}");
}

#[test]
fn the_graph_reads_partial_ids_by_the_same_rule() {
    let graph = Graph::new(vec![
        node("abcd0002", &[]),
        node("abcd0001", &["abcd0002"]),
        node("a1", &["abcd0001"]),
    ])
    .unwrap();
    let ids = ["abcd0002", "abcd0001", "a1"];
    for prefix in ["a1", "abc", "abcd", "abcd0001", "abcd00020", "9999"] {
        let alone = resolve_prefix(prefix, ids).map(|id| vec![id.to_owned()]);
        assert_eq!(graph.resolve(prefix, &[]), alone, "{prefix:?}");
    }
}

#[test]
fn ids_of_lowercase_letters_digits_and_underscores_are_valid() {
    for id in ["1975ea83b712", "0001_initial", "a1"] {
        assert_eq!(check_id(id), Ok(()), "{id:?}");
    }
}

#[test]
fn an_id_with_any_other_character_is_refused_naming_that_character() {
    for (id, c) in [
        ("ABCD", 'A'),
        ("ab-cd", '-'),
        ("ab+cd", '+'),
        ("ab@cd", '@'),
        ("ab:cd", ':'),
        ("a b", ' '),
        ("a/b", '/'),
        ("..", '.'),
        ("caf\u{e9}", '\u{e9}'),
    ] {
        let err = check_id(id).unwrap_err();
        assert_eq!(err, NameError::IdChar(c), "{id:?}");
        assert!(
            err.to_string()
                .contains("lowercase letters, digits and `_`"),
            "{err}"
        );
    }
    assert_eq!(check_id(""), Err(NameError::Empty));
}

#[test]
fn an_id_longer_than_the_version_table_holds_is_refused_naming_the_limit() {
    let longest = "a".repeat(MAX_ID_LEN);
    assert_eq!(check_id(&longest), Ok(()));
    let err = check_id(&format!("{longest}b")).unwrap_err();
    assert_eq!(err, NameError::TooLong(MAX_ID_LEN + 1));
    assert!(err.to_string().contains("at most 32 characters"), "{err}");
}

#[test]
fn every_reserved_word_is_refused_as_an_id_and_as_a_label() {
    for word in RESERVED {
        assert_eq!(check_id(word), Err(NameError::Reserved(word.into())));
        assert_eq!(check_label(word), Err(NameError::Reserved(word.into())));
    }
    let err = check_id("current").unwrap_err().to_string();
    assert!(err.contains("head, heads, base, current"), "{err}");
}

#[test]
fn labels_take_letters_of_either_case_digits_underscores_and_dashes() {
    for label in ["auth", "Auth", "release-1", "feature_x", "2026", "x--1"] {
        assert_eq!(check_label(label), Ok(()), "{label:?}");
    }
    for (label, c) in [
        ("a@b", '@'),
        ("a:b", ':'),
        ("a+b", '+'),
        ("a b", ' '),
        ("a/b", '/'),
    ] {
        assert_eq!(
            check_label(label),
            Err(NameError::LabelChar(c)),
            "{label:?}"
        );
    }
    assert_eq!(check_label(""), Err(NameError::Empty));
}

#[test]
fn a_label_spelled_like_a_relative_step_every_project_has_is_refused() {
    for label in ["-1", "head-1", "heads-2", "base-1", "current-3"] {
        let err = check_label(label).unwrap_err();
        assert_eq!(err, NameError::RelativeLabel(label.into()), "{label:?}");
        assert!(err.to_string().contains("choose another label"), "{err}");
    }
}

#[test]
fn the_graph_refuses_what_check_id_and_check_label_refuse() {
    for bad in ["ABCD", "current", "caf\u{e9}"] {
        let err = Graph::new(vec![node(bad, &[])]).unwrap_err();
        assert!(
            matches!(err, GraphError::InvalidId { .. }),
            "{bad:?}: {err}"
        );
    }
    for bad in ["current", "head-1", "a:b"] {
        let err = Graph::new(vec![with_labels(node("aaaa", &[]), &[bad])]).unwrap_err();
        assert_eq!(
            err,
            GraphError::InvalidId {
                id: "aaaa".into(),
                reason: format!(
                    "its branch label {bad:?} cannot be used: {}",
                    check_label(bad).unwrap_err()
                ),
            }
        );
    }
}

mod overlap_tests {
    use super::super::*;

    fn node(id: &str, parents: &[&str]) -> Node {
        Node {
            id: id.to_string(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            ..Node::default()
        }
    }

    #[test]
    fn an_upgrade_from_a_version_table_with_one_row_below_another_is_refused() {
        let graph = Graph::new(vec![node("aaaa01", &[]), node("bbbb02", &["aaaa01"])]).unwrap();
        let current = vec!["aaaa01".to_string(), "bbbb02".to_string()];
        let err = graph.upgrade_plan(&current, "base").unwrap_err();
        assert!(
            matches!(err, GraphError::OverlappingCurrent { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("stamp --purge"), "{err}");
    }
}
