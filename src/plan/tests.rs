//! Reconcile tests: small hand-built projects and observed states; each compares the plan's
//! text.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use super::*;
use crate::model::project::service_hash;
use crate::model::types::{
    BuildConfig, DeployConfig, NetworkConfig, Project, ServiceConfig, ServiceDependency,
    ServiceVolumeConfig, VolumeConfig,
};

fn svc(image: &str) -> ServiceConfig {
    ServiceConfig {
        image: image.into(),
        ..Default::default()
    }
}

/// `s` with `depends_on` entries `(service, condition)`, required.
fn deps(mut s: ServiceConfig, on: &[(&str, &str)]) -> ServiceConfig {
    for (d, c) in on {
        s.depends_on.insert(
            d.to_string(),
            ServiceDependency {
                condition: c.to_string(),
                required: true,
                ..Default::default()
            },
        );
    }
    s
}

fn project(services: &[(&str, ServiceConfig)]) -> Project {
    Project {
        name: "p".into(),
        services: services
            .iter()
            .map(|(n, s)| {
                let mut s = s.clone();
                s.name = n.to_string();
                (n.to_string(), s)
            })
            .collect(),
        ..Default::default()
    }
}

fn container(service: &str, n: i64, hash: &str, state: ContainerState) -> ObservedContainer {
    let labels: BTreeMap<String, String> = [
        (labels::PROJECT, "p".to_string()),
        (labels::SERVICE, service.to_string()),
        (labels::CONTAINER_NUMBER, n.to_string()),
        (labels::ONEOFF, "False".to_string()),
        (labels::CONFIG_HASH, hash.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    ObservedContainer {
        id: format!("id-{service}-{n}"),
        name: format!("p-{service}-{n}"),
        labels,
        state,
        image_digest: None,
    }
}

/// A running container of `service` whose config hash matches the project.
fn current(p: &Project, service: &str, n: i64) -> ObservedContainer {
    container(
        service,
        n,
        &service_hash(&p.services[service]),
        ContainerState::Running,
    )
}

fn stale(service: &str, n: i64) -> ObservedContainer {
    container(service, n, "old", ContainerState::Running)
}

fn oneoff(service: &str, slug: &str) -> ObservedContainer {
    let mut c = container(service, 1, "h", ContainerState::Exited { code: 0 });
    c.labels.insert(labels::ONEOFF.into(), "True".into());
    c.name = format!("p-{service}-run-{slug}");
    c.id = format!("id-run-{slug}");
    c
}

fn observed(containers: Vec<ObservedContainer>) -> Observed {
    Observed {
        containers,
        ..Default::default()
    }
}

fn none() -> Disabled {
    Disabled::new()
}

fn up_text(p: &Project, o: &Observed, opts: &UpOptions) -> String {
    up(p, &none(), o, opts).unwrap().to_string()
}

fn web_db() -> Project {
    project(&[
        ("db", svc("postgres")),
        ("web", deps(svc("nginx"), &[("db", "service_healthy")])),
    ])
}

#[test]
fn fresh_project_creates_dependencies_first_and_waits_for_health() {
    let p = web_db();
    assert_eq!(
        up_text(&p, &observed(vec![]), &UpOptions::default()),
        "create p-db-1 (no container)\n\
         start p-db-1 (new container)\n\
         create p-web-1 (no container)\n\
         start p-web-1 (new container) after p-db-1 is healthy\n"
    );
}

#[test]
fn up_to_date_containers_are_kept() {
    let p = web_db();
    let o = observed(vec![current(&p, "web", 1), current(&p, "db", 1)]);
    assert_eq!(
        up_text(&p, &o, &UpOptions::default()),
        "keep p-db-1 (up to date)\nkeep p-web-1 (up to date)\n"
    );
    assert_eq!(
        up(&p, &none(), &o, &UpOptions::default())
            .unwrap()
            .actions()
            .count(),
        0
    );
}

#[test]
fn changed_hash_recreates_and_dependents_follow() {
    let p = web_db();
    let o = observed(vec![current(&p, "web", 1), stale("db", 1)]);
    assert_eq!(
        up_text(&p, &o, &UpOptions::default()),
        "recreate p-db-1 (config hash changed)\n\
         start p-db-1 (recreated)\n\
         recreate p-web-1 (dependency db was recreated)\n\
         start p-web-1 (recreated) after p-db-1 is healthy\n"
    );
}

#[test]
fn a_dependent_change_leaves_the_dependency_alone() {
    let p = web_db();
    let o = observed(vec![stale("web", 1), current(&p, "db", 1)]);
    assert_eq!(
        up_text(&p, &o, &UpOptions::default()),
        "keep p-db-1 (up to date)\n\
         recreate p-web-1 (config hash changed)\n\
         start p-web-1 (recreated) after p-db-1 is healthy\n"
    );
}

#[test]
fn no_recreate_keeps_diverged_containers() {
    let p = web_db();
    let o = observed(vec![stale("web", 1), stale("db", 1)]);
    let opts = UpOptions {
        no_recreate: true,
        force_recreate: false,
        ..Default::default()
    };
    assert_eq!(
        up_text(&p, &o, &opts),
        "keep p-db-1 (up to date)\nkeep p-web-1 (up to date)\n"
    );
}

#[test]
fn force_recreate_applies_to_named_services_and_deps_only_when_asked() {
    let p = web_db();
    let o = observed(vec![current(&p, "web", 1), current(&p, "db", 1)]);
    let mut opts = UpOptions {
        services: vec!["web".into()],
        force_recreate: true,
        ..Default::default()
    };
    assert_eq!(
        up_text(&p, &o, &opts),
        "keep p-db-1 (up to date)\n\
         recreate p-web-1 (--force-recreate)\n\
         start p-web-1 (recreated) after p-db-1 is healthy\n"
    );
    opts.always_recreate_deps = true;
    assert_eq!(
        up_text(&p, &o, &opts),
        "recreate p-db-1 (--always-recreate-deps)\n\
         start p-db-1 (recreated)\n\
         recreate p-web-1 (--force-recreate)\n\
         start p-web-1 (recreated) after p-db-1 is healthy\n"
    );
}

#[test]
fn image_digest_change_recreates() {
    let p = project(&[("web", svc("nginx"))]);
    let mut c = current(&p, "web", 1);
    c.labels
        .insert(labels::IMAGE_DIGEST.into(), "sha256:old".into());
    let mut o = observed(vec![c]);
    o.images.insert(
        "web".into(),
        ImageFact::Present {
            digest: "sha256:new".into(),
        },
    );
    assert_eq!(
        up_text(&p, &o, &UpOptions::default()),
        "recreate p-web-1 (image changed)\nstart p-web-1 (recreated)\n"
    );
    o.images.insert(
        "web".into(),
        ImageFact::Present {
            digest: "sha256:old".into(),
        },
    );
    assert_eq!(
        up_text(&p, &o, &UpOptions::default()),
        "keep p-web-1 (up to date)\n"
    );
}

#[test]
fn scale_up_numbers_after_the_highest() {
    let p = project(&[("web", svc("nginx"))]);
    let o = observed(vec![current(&p, "web", 1), current(&p, "web", 3)]);
    let opts = UpOptions {
        scale: [("web".to_string(), 3)].into(),
        ..Default::default()
    };
    assert_eq!(
        up_text(&p, &o, &opts),
        "keep p-web-1 (up to date)\n\
         keep p-web-3 (up to date)\n\
         create p-web-4 (scale is 3)\n\
         start p-web-4 (new container)\n"
    );
}

#[test]
fn scale_down_removes_obsolete_then_highest_numbers() {
    let p = project(&[("web", svc("nginx"))]);
    let all = vec![
        current(&p, "web", 1),
        current(&p, "web", 2),
        current(&p, "web", 3),
    ];
    let opts = UpOptions {
        scale: [("web".to_string(), 1)].into(),
        ..Default::default()
    };
    assert_eq!(
        up_text(&p, &observed(all), &opts),
        "keep p-web-1 (up to date)\n\
         scale down p-web-2 (scale is 1)\n\
         scale down p-web-3 (scale is 1)\n"
    );
    // compose sorts obsolete containers first; within the scale they are recreated.
    let mixed = vec![
        current(&p, "web", 1),
        stale("web", 2),
        current(&p, "web", 3),
    ];
    let opts = UpOptions {
        scale: [("web".to_string(), 2)].into(),
        ..Default::default()
    };
    assert_eq!(
        up_text(&p, &observed(mixed), &opts),
        "recreate p-web-2 (config hash changed)\n\
         start p-web-2 (recreated)\n\
         keep p-web-1 (up to date)\n\
         scale down p-web-3 (scale is 2)\n"
    );
}

#[test]
fn scale_comes_from_scale_then_replicas_and_flag_wins() {
    let mut a = svc("a");
    a.scale = Some(2);
    let mut b = svc("b");
    b.deploy = Some(DeployConfig {
        replicas: Some(0),
        ..Default::default()
    });
    let p = project(&[("a", a), ("b", b)]);
    let text = up_text(&p, &observed(vec![]), &UpOptions::default());
    assert_eq!(
        text,
        "create p-a-1 (no container)\nstart p-a-1 (new container)\n\
         create p-a-2 (no container)\nstart p-a-2 (new container)\n"
    );
    let opts = UpOptions {
        scale: [("a".to_string(), 0), ("b".to_string(), 1)].into(),
        ..Default::default()
    };
    assert_eq!(
        up_text(&p, &observed(vec![]), &opts),
        "create p-b-1 (no container)\nstart p-b-1 (new container)\n"
    );
    let opts = UpOptions {
        scale: [("nope".to_string(), 1)].into(),
        ..Default::default()
    };
    assert_eq!(
        up(&p, &none(), &observed(vec![]), &opts)
            .unwrap_err()
            .to_string(),
        "no such service: nope"
    );
}

#[test]
fn container_name_is_used_and_forbids_scaling() {
    let mut s = svc("nginx");
    s.container_name = "front".into();
    let p = project(&[("web", s)]);
    assert_eq!(
        up_text(&p, &observed(vec![]), &UpOptions::default()),
        "create front (no container)\nstart front (new container)\n"
    );
    let opts = UpOptions {
        scale: [("web".to_string(), 2)].into(),
        ..Default::default()
    };
    assert_eq!(
        up(&p, &none(), &observed(vec![]), &opts)
            .unwrap_err()
            .to_string(),
        "WARNING: The \"web\" service is using the custom container name \"front\". Docker \
         requires each container to have a unique name. Remove the custom name to scale the \
         service."
    );
}

#[test]
fn orphans_warn_or_are_removed_and_disabled_services_are_not_orphans() {
    let p = project(&[("web", svc("nginx"))]);
    let o = observed(vec![
        current(&p, "web", 1),
        stale("old", 1),
        stale("debug", 1),
        oneoff("gone", "abc"),
        oneoff("web", "def"),
    ]);
    let disabled: Disabled = [("debug".to_string(), vec!["dev".to_string()])].into();
    let plan = up(&p, &disabled, &o, &UpOptions::default()).unwrap();
    assert_eq!(
        plan.to_string(),
        "keep p-web-1 (up to date)\n\
         warning: Found orphan containers ([p-gone-run-abc p-old-1]) for this project. If you \
         removed or renamed this service in your compose file, you can run this command with \
         the --remove-orphans flag to clean it up.\n"
    );
    let opts = UpOptions {
        remove_orphans: true,
        ..Default::default()
    };
    assert_eq!(
        up(&p, &disabled, &o, &opts).unwrap().to_string(),
        "remove orphan p-gone-run-abc (service \"gone\" is not in the project)\n\
         remove orphan p-old-1 (service \"old\" is not in the project)\n\
         keep p-web-1 (up to date)\n"
    );
    let opts = UpOptions {
        ignore_orphans: true,
        ..Default::default()
    };
    assert_eq!(
        up(&p, &disabled, &o, &opts).unwrap().to_string(),
        "keep p-web-1 (up to date)\n"
    );
}

#[test]
fn other_projects_are_ignored() {
    let p = project(&[("web", svc("nginx"))]);
    let mut c = stale("web", 1);
    c.labels.insert(labels::PROJECT.into(), "q".into());
    assert_eq!(
        up_text(&p, &observed(vec![c]), &UpOptions::default()),
        "create p-web-1 (no container)\nstart p-web-1 (new container)\n"
    );
}

#[test]
fn stopped_containers_are_started_unless_no_start() {
    let p = project(&[
        ("init", svc("busybox")),
        (
            "web",
            deps(svc("nginx"), &[("init", "service_completed_successfully")]),
        ),
    ]);
    let mut init = current(&p, "init", 1);
    init.state = ContainerState::Exited { code: 0 };
    let mut web = current(&p, "web", 1);
    web.state = ContainerState::Created;
    let o = observed(vec![init, web]);
    assert_eq!(
        up_text(&p, &o, &UpOptions::default()),
        "start p-init-1 (exited (0))\n\
         start p-web-1 (created, not started) after p-init-1 completed successfully\n"
    );
    let opts = UpOptions {
        no_start: true,
        ..Default::default()
    };
    assert_eq!(
        up_text(&p, &o, &opts),
        "keep p-init-1 (up to date, not started)\nkeep p-web-1 (up to date, not started)\n"
    );
    assert_eq!(
        up_text(&p, &observed(vec![]), &opts),
        "create p-init-1 (no container)\ncreate p-web-1 (no container)\n"
    );
}

#[test]
fn selected_services_bring_their_dependencies_unless_no_deps() {
    let p = project(&[
        ("db", svc("postgres")),
        ("web", deps(svc("nginx"), &[("db", "service_started")])),
        ("other", svc("redis")),
    ]);
    let mut opts = UpOptions {
        services: vec!["web".into()],
        ..Default::default()
    };
    assert_eq!(
        up_text(&p, &observed(vec![]), &opts),
        "create p-db-1 (no container)\n\
         start p-db-1 (new container)\n\
         create p-web-1 (no container)\n\
         start p-web-1 (new container) after p-db-1 is started\n"
    );
    opts.no_deps = true;
    assert_eq!(
        up_text(&p, &observed(vec![]), &opts),
        "create p-web-1 (no container)\nstart p-web-1 (new container)\n"
    );
    opts.services = vec!["nope".into()];
    assert_eq!(
        up(&p, &none(), &observed(vec![]), &opts).unwrap_err(),
        PlanError::NoSuchService("nope".into())
    );
}

#[test]
fn optional_dependencies_are_marked_and_missing_ones_dropped() {
    let mut web = deps(svc("nginx"), &[("db", "service_healthy")]);
    web.depends_on["db"].required = false;
    web.depends_on.insert(
        "gone".into(),
        ServiceDependency {
            condition: "service_started".into(),
            required: false,
            ..Default::default()
        },
    );
    let p = project(&[("db", svc("postgres")), ("web", web)]);
    let plan = up(&p, &none(), &observed(vec![]), &UpOptions::default()).unwrap();
    assert_eq!(
        plan.to_string(),
        "create p-db-1 (no container)\n\
         start p-db-1 (new container)\n\
         create p-web-1 (no container)\n\
         start p-web-1 (new container) after p-db-1 is healthy (optional)\n"
    );
}

#[test]
fn required_dependency_on_a_disabled_service_names_its_profiles() {
    let p = project(&[("web", deps(svc("nginx"), &[("db", "service_started")]))]);
    let disabled: Disabled = [("db".to_string(), vec!["a".to_string(), "b".to_string()])].into();
    assert_eq!(
        up(&p, &disabled, &observed(vec![]), &UpOptions::default())
            .unwrap_err()
            .to_string(),
        "service db is required by web but is disabled. Can be enabled by profiles [a b]"
    );
}

#[test]
fn cycles_are_rejected() {
    let p = project(&[
        ("a", deps(svc("x"), &[("b", "service_started")])),
        ("b", deps(svc("x"), &[("a", "service_started")])),
    ]);
    assert_eq!(
        up(&p, &none(), &observed(vec![]), &UpOptions::default()).unwrap_err(),
        PlanError::Cycle("a -> b -> a".into())
    );
}

#[test]
fn missing_images_are_pulled_or_built_once() {
    let mut built = svc("");
    built.build = Some(BuildConfig::default());
    let mut always = svc("redis");
    always.pull_policy = "always".into();
    let mut never = svc("local/thing");
    never.pull_policy = "never".into();
    let p = project(&[
        ("a", svc("nginx")),
        ("b", svc("nginx")),
        ("c", built),
        ("d", always),
        ("e", never),
    ]);
    let mut o = observed(vec![]);
    for s in ["a", "b", "c", "e"] {
        o.images.insert(s.into(), ImageFact::Missing);
    }
    o.images.insert(
        "d".into(),
        ImageFact::Present {
            digest: "sha256:d".into(),
        },
    );
    let opts = UpOptions {
        no_start: true,
        ..Default::default()
    };
    assert_eq!(
        up_text(&p, &o, &opts),
        "pull nginx for a (image missing)\n\
         create p-a-1 (no container)\n\
         create p-b-1 (no container)\n\
         build p-c for c (image missing)\n\
         create p-c-1 (no container)\n\
         pull redis for d (pull_policy: always)\n\
         create p-d-1 (no container)\n\
         create p-e-1 (no container)\n"
    );
}

#[test]
fn missing_networks_and_volumes_are_created_before_containers() {
    let mut web = svc("nginx");
    web.networks.insert("front".into(), None);
    web.networks.insert("back".into(), None);
    web.volumes.push(ServiceVolumeConfig {
        r#type: "volume".into(),
        source: "data".into(),
        target: "/data".into(),
        ..Default::default()
    });
    let mut p = project(&[("web", web)]);
    p.networks = IndexMap::from([
        ("front".to_string(), NetworkConfig::default()),
        (
            "back".to_string(),
            NetworkConfig {
                name: "shared".into(),
                external: true,
                ..Default::default()
            },
        ),
    ]);
    p.volumes = IndexMap::from([("data".to_string(), VolumeConfig::default())]);
    let plan = up(&p, &none(), &observed(vec![]), &UpOptions::default()).unwrap();
    assert_eq!(
        plan.to_string(),
        "create network p_front (not found)\n\
         create volume p_data (not found)\n\
         create p-web-1 (no container)\n\
         start p-web-1 (new container)\n"
    );
    let create = &plan.nodes[2];
    assert_eq!(create.after.len(), 2);
    let mut o = observed(vec![]);
    o.networks.insert("p_front".into());
    o.volumes.insert("p_data".into());
    assert_eq!(
        up_text(&p, &o, &UpOptions::default()),
        "create p-web-1 (no container)\nstart p-web-1 (new container)\n"
    );
}

#[test]
fn independent_services_run_in_parallel() {
    let p = project(&[("a", svc("x")), ("b", svc("y"))]);
    let plan = up(&p, &none(), &observed(vec![]), &UpOptions::default()).unwrap();
    // create b waits for nothing of a
    let create_b = plan
        .nodes
        .iter()
        .find(|n| n.op.container_name() == Some("p-b-1"))
        .unwrap();
    assert!(create_b.after.is_empty());
}

#[test]
fn down_removes_in_reverse_order_then_networks_and_volumes() {
    let mut p = web_db();
    p.networks = IndexMap::from([("default".to_string(), NetworkConfig::default())]);
    p.volumes = IndexMap::from([("data".to_string(), VolumeConfig::default())]);
    let mut db = current(&p, "db", 1);
    db.state = ContainerState::Exited { code: 0 };
    let mut o = observed(vec![
        current(&p, "web", 1),
        db,
        oneoff("web", "abc"),
        stale("old", 1),
    ]);
    o.networks.insert("p_default".into());
    o.volumes.insert("p_data".into());
    assert_eq!(
        down(&p, &none(), &o, &DownOptions::default())
            .unwrap()
            .to_string(),
        "stop p-web-1 (running)\n\
         remove p-web-1 (down)\n\
         remove p-db-1 (down)\n\
         remove network p_default (down)\n"
    );
    let opts = DownOptions {
        remove_orphans: true,
        volumes: true,
        rmi: Some(RemoveImages::All),
        ..Default::default()
    };
    assert_eq!(
        down(&p, &none(), &o, &opts).unwrap().to_string(),
        "stop p-web-1 (running)\n\
         remove p-web-1 (down)\n\
         remove p-web-run-abc (one-off container)\n\
         remove p-db-1 (down)\n\
         remove orphan p-old-1 (service \"old\" is not in the project)\n\
         remove network p_default (down)\n\
         remove volume p_data (--volumes)\n\
         remove image nginx (--rmi all)\n\
         remove image postgres (--rmi all)\n"
    );
    let plan = down(&p, &none(), &o, &DownOptions::default()).unwrap();
    // db's removal waits for web's
    assert_eq!(plan.nodes[2].after, vec![Edge::done(1)]);
}

#[test]
fn down_of_a_service_takes_its_dependents() {
    let p = project(&[
        ("db", svc("postgres")),
        ("web", deps(svc("nginx"), &[("db", "service_started")])),
        ("cache", svc("redis")),
    ]);
    let o = observed(vec![
        current(&p, "web", 1),
        current(&p, "db", 1),
        current(&p, "cache", 1),
    ]);
    let opts = DownOptions {
        services: vec!["db".into()],
        ..Default::default()
    };
    assert_eq!(
        down(&p, &none(), &o, &opts).unwrap().to_string(),
        "stop p-web-1 (running)\n\
         remove p-web-1 (down)\n\
         stop p-db-1 (running)\n\
         remove p-db-1 (down)\n"
    );
}

#[test]
fn down_with_nothing_warns() {
    let p = web_db();
    let plan = down(&p, &none(), &observed(vec![]), &DownOptions::default()).unwrap();
    assert_eq!(
        plan.to_string(),
        "warning: No resource found to remove for project \"p\".\n"
    );
}

#[test]
fn down_rmi_local_removes_only_built_images() {
    let mut built = svc("");
    built.build = Some(BuildConfig::default());
    let p = project(&[("app", built), ("db", svc("postgres"))]);
    let opts = DownOptions {
        rmi: Some(RemoveImages::Local),
        ..Default::default()
    };
    assert_eq!(
        down(&p, &none(), &observed(vec![]), &opts)
            .unwrap()
            .to_string(),
        "remove image p-app (--rmi local)\n"
    );
}

#[test]
fn stop_goes_in_reverse_order_and_skips_stopped_and_oneoffs() {
    let p = web_db();
    let mut db2 = current(&p, "db", 2);
    db2.state = ContainerState::Exited { code: 1 };
    let o = observed(vec![
        current(&p, "db", 1),
        db2,
        current(&p, "web", 1),
        oneoff("web", "x"),
    ]);
    let plan = stop(&p, &none(), &o, &StopOptions::default()).unwrap();
    assert_eq!(
        plan.to_string(),
        "stop p-web-1 (running)\nstop p-db-1 (running)\n"
    );
    assert_eq!(plan.nodes[1].after, vec![Edge::done(0)]);
    let opts = StopOptions {
        services: vec!["db".into()],
        ..Default::default()
    };
    assert_eq!(
        stop(&p, &none(), &o, &opts).unwrap().to_string(),
        "stop p-db-1 (running)\n"
    );
}

#[test]
fn start_waits_on_conditions_and_needs_containers() {
    let p = web_db();
    let mut web = current(&p, "web", 1);
    web.state = ContainerState::Exited { code: 137 };
    let o = observed(vec![current(&p, "db", 1), web]);
    assert_eq!(
        start(&p, &none(), &o, &StartOptions::default())
            .unwrap()
            .to_string(),
        "keep p-db-1 (running)\nstart p-web-1 (exited (137)) after p-db-1 is healthy\n"
    );
    let o = observed(vec![current(&p, "db", 1)]);
    assert_eq!(
        start(&p, &none(), &o, &StartOptions::default())
            .unwrap_err()
            .to_string(),
        "service \"web\" has no container to start"
    );
}

#[test]
fn rm_removes_stopped_containers_and_stops_with_flag() {
    let p = web_db();
    let mut db = current(&p, "db", 1);
    db.state = ContainerState::Exited { code: 0 };
    let o = observed(vec![db, current(&p, "web", 1)]);
    assert_eq!(
        rm(&p, &none(), &o, &RmOptions::default())
            .unwrap()
            .to_string(),
        "remove p-db-1 (rm)\n"
    );
    let opts = RmOptions {
        stop: true,
        ..Default::default()
    };
    assert_eq!(
        rm(&p, &none(), &o, &opts).unwrap().to_string(),
        "stop p-web-1 (running)\nremove p-web-1 (rm)\nremove p-db-1 (rm)\n"
    );
    let o = observed(vec![current(&p, "web", 1)]);
    assert_eq!(
        rm(&p, &none(), &o, &RmOptions::default())
            .unwrap()
            .to_string(),
        "warning: No stopped containers\n"
    );
}

#[test]
fn plan_order_is_topological() {
    let p = project(&[
        ("a", deps(svc("x"), &[("c", "service_started")])),
        ("b", svc("x")),
        ("c", deps(svc("x"), &[("b", "service_healthy")])),
    ]);
    let plan = up(&p, &none(), &observed(vec![]), &UpOptions::default()).unwrap();
    let order = plan.order();
    assert_eq!(order.len(), plan.nodes.len());
    let pos: Vec<usize> = {
        let mut v = vec![0; order.len()];
        for (i, &n) in order.iter().enumerate() {
            v[n] = i;
        }
        v
    };
    for (i, n) in plan.nodes.iter().enumerate() {
        for e in &n.after {
            assert!(pos[e.node] < pos[i]);
        }
    }
}

#[test]
fn labels_written_at_creation_make_the_next_up_a_no_op() {
    let p = web_db();
    let l = container_labels(&p, "web", 1, Some("sha256:n"));
    assert_eq!(l[labels::DEPENDS_ON], "db:service_healthy:false");
    assert_eq!(l[labels::ONEOFF], "False");
    let mk = |service: &str| ObservedContainer {
        id: format!("id-{service}"),
        name: format!("p-{service}-1"),
        labels: container_labels(&p, service, 1, Some("sha256:n")),
        state: ContainerState::Running,
        image_digest: None,
    };
    let mut o = observed(vec![mk("web"), mk("db")]);
    for s in ["web", "db"] {
        o.images.insert(
            s.into(),
            ImageFact::Present {
                digest: "sha256:n".into(),
            },
        );
    }
    let plan = up(&p, &none(), &o, &UpOptions::default()).unwrap();
    assert_eq!(plan.actions().count(), 0, "{plan}");
}

#[test]
fn restart_flag_is_recorded_on_the_edge() {
    let mut web = deps(svc("nginx"), &[("db", "service_started")]);
    web.depends_on["db"].restart = true;
    let p = project(&[("db", svc("postgres")), ("web", web)]);
    let plan = up(&p, &none(), &observed(vec![]), &UpOptions::default()).unwrap();
    let start_web = plan
        .nodes
        .iter()
        .find(|n| matches!(&n.op, Op::StartContainer { name, .. } if name == "p-web-1"))
        .unwrap();
    assert!(start_web
        .after
        .iter()
        .any(|e| e.restart && e.condition == Condition::Started));
}

#[test]
fn down_v_keeps_external_volumes_and_takes_the_containers_anonymous_ones() {
    let mut p = web_db();
    p.volumes = IndexMap::from([
        ("data".to_string(), VolumeConfig::default()),
        (
            "shared".to_string(),
            VolumeConfig {
                name: "shared".into(),
                external: true,
                ..Default::default()
            },
        ),
        // declared but never created: nothing to remove
        ("unused".to_string(), VolumeConfig::default()),
    ]);
    let mut o = observed(vec![current(&p, "db", 1)]);
    o.containers[0].state = ContainerState::Exited { code: 0 };
    o.volumes
        .extend(["p_data".to_string(), "shared".to_string()]);
    let opts = DownOptions {
        volumes: true,
        ..Default::default()
    };
    let plan = down(&p, &none(), &o, &opts).unwrap();
    assert_eq!(
        plan.to_string(),
        "remove p-db-1 (down)\n\
         remove volume p_data (--volumes)\n"
    );
    // the container's removal carries -v, so its anonymous volumes go with it
    assert!(matches!(
        plan.nodes[0].op,
        Op::RemoveContainer { volumes: true, .. }
    ));
    let plan = down(&p, &none(), &o, &DownOptions::default()).unwrap();
    assert!(matches!(
        plan.nodes[0].op,
        Op::RemoveContainer { volumes: false, .. }
    ));
    assert_eq!(plan.to_string(), "remove p-db-1 (down)\n");
}

#[test]
fn down_with_no_compose_file_works_from_labels() {
    // What `down -p p` rebuilds when it reads no file: services from the containers, their
    // order from the depends_on label, volumes by name.
    let mut web = stale("web", 1);
    web.labels.insert(
        labels::DEPENDS_ON.into(),
        "db:service_healthy:false,gone:service_started:true".into(),
    );
    let mut o = observed(vec![
        web,
        stale("db", 1),
        stale("db", 2),
        oneoff("web", "abc"),
    ]);
    o.volumes.insert("p_data".into());
    o.networks.insert("p_default".into());
    let images = BTreeMap::from([("p-web-1".to_string(), "nginx:1".to_string())]);
    let p = project_from_resources(
        "p",
        &o,
        &images,
        &["p_data".to_string()],
        &["p_default".to_string()],
    );
    assert_eq!(p.service_names(), ["db", "web"]);
    assert_eq!(
        (
            p.services["web"].image.as_str(),
            p.services["db"].image.as_str()
        ),
        ("nginx:1", "")
    );
    assert_eq!(
        p.services["web"].depends_on.keys().collect::<Vec<_>>(),
        ["db"]
    );
    assert_eq!(
        p.services["web"].depends_on["db"].condition,
        "service_healthy"
    );
    let opts = DownOptions {
        volumes: true,
        remove_orphans: true,
        ..Default::default()
    };
    assert_eq!(
        down(&p, &none(), &o, &opts).unwrap().to_string(),
        "stop p-web-1 (running)\n\
         remove p-web-1 (down)\n\
         remove p-web-run-abc (one-off container)\n\
         stop p-db-1 (running)\n\
         remove p-db-1 (down)\n\
         stop p-db-2 (running)\n\
         remove p-db-2 (down)\n\
         remove network p_default (down)\n\
         remove volume p_data (--volumes)\n"
    );
}

#[test]
fn joining_a_services_ipc_waits_for_it_to_run_before_create() {
    let mut probe = deps(svc("busybox"), &[("owner", "service_started")]);
    probe.ipc = "service:owner".into();
    let p = project(&[("owner", svc("busybox")), ("probe", probe)]);
    let plan = up(&p, &none(), &observed(vec![]), &UpOptions::default()).unwrap();
    let text = plan.to_string();
    let pos = |needle: &str| {
        plan.nodes
            .iter()
            .position(|n| plan.render_node(n).starts_with(needle))
            .unwrap_or_else(|| panic!("{needle} in {text}"))
    };
    let (start_owner, create_probe) = (pos("start p-owner-1"), pos("create p-probe-1"));
    assert!(
        plan.nodes[create_probe]
            .after
            .iter()
            .any(|e| e.node == start_owner),
        "{text}"
    );
}
