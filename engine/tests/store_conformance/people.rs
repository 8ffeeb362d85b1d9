//! Logs, live workers, users and the web UI's reads.

use super::*;

pub async fn workers_come_and_go(store: &Store) {
    let now = Timestamp::now();
    let w = |id: &str, beat: Timestamp| WorkerInfo {
        worker_id: id.into(),
        kind: "worker".into(),
        hostname: "h".into(),
        pid: 1,
        slots: 4,
        started_at: beat,
        heartbeat: beat,
    };
    store
        .register_worker(&w("old", now - SignedDuration::from_mins(10)))
        .await
        .unwrap();
    store.register_worker(&w("new", now)).await.unwrap();
    let live = store.live_workers(now - SignedDuration::from_secs(30)).await.unwrap();
    assert_eq!(live.iter().map(|w| w.worker_id.as_str()).collect::<Vec<_>>(), ["new"]);
    // A heartbeat says whether its process is still on the list: "old" was
    // removed as silent above and must register again (a worker whose
    // heartbeats only updated nothing stayed off it for good).
    assert!(store.heartbeat_worker("new").await.unwrap());
    assert!(!store.heartbeat_worker("old").await.unwrap());
    store.deregister_worker("new").await.unwrap();
    assert!(
        store
            .live_workers(now - SignedDuration::from_secs(30))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn users_tokens_and_sessions(store: &Store) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    let later = Timestamp::now() + SignedDuration::from_hours(1);
    store.set_user("ada", "hash1").await.unwrap();
    store.add_api_token("ada", "old", "oldtok", later).await.unwrap();
    store.create_session("s0", "ada", later).await.unwrap();
    // A new password revokes what the old one gave.
    store.set_user("ada", "hash2").await.unwrap();
    assert_eq!(store.user_password_hash("ada").await.unwrap().as_deref(), Some("hash2"));
    assert_eq!(store.token_user("oldtok").await.unwrap(), None, "token revoked");
    assert_eq!(store.session_user("s0").await.unwrap(), None, "session revoked");
    assert_eq!(store.user_password_hash("bob").await.unwrap(), None);
    store
        .add_api_token("ada", "ci", "a1b2c3d4e5f6tokhash", later)
        .await
        .unwrap();
    store
        .add_api_token(
            "ada",
            "stale",
            "0f0f0f0f0f0fexpired",
            Timestamp::now() - SignedDuration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(
        store.token_user("a1b2c3d4e5f6tokhash").await.unwrap().as_deref(),
        Some("ada")
    );
    assert_eq!(store.token_user("0f0f0f0f0f0fexpired").await.unwrap(), None, "expired");
    let tokens = store.list_tokens("ada").await.unwrap();
    assert_eq!(
        tokens
            .iter()
            .map(|t| (t.id.as_str(), t.name.as_str()))
            .collect::<Vec<_>>(),
        [("a1b2c3d4e5f6", "ci"), ("0f0f0f0f0f0f", "stale")]
    );
    assert!(tokens[0].expires_at > Timestamp::now() && tokens[1].expires_at < Timestamp::now());
    assert_eq!(
        store.revoke_token("bob", "a1b2c3d4e5f6").await.unwrap(),
        0,
        "someone else's"
    );
    assert_eq!(store.revoke_token("ada", "a1b2c3d4e5f6").await.unwrap(), 1, "by id");
    assert_eq!(store.token_user("a1b2c3d4e5f6tokhash").await.unwrap(), None);
    assert_eq!(store.revoke_token("ada", "stale").await.unwrap(), 1, "by name");
    store.add_api_token("ada", "ci", "tokhash", later).await.unwrap();
    store.create_session("s1", "ada", later).await.unwrap();
    store
        .create_session("old", "ada", Timestamp::now() - SignedDuration::from_hours(1))
        .await
        .unwrap();
    assert_eq!(store.session_user("s1").await.unwrap().as_deref(), Some("ada"));
    assert_eq!(store.session_user("old").await.unwrap(), None, "expired");
    let users = store.list_users().await.unwrap();
    assert_eq!((users[0].username.as_str(), users[0].tokens), ("ada", 1));
    store.delete_session("s1").await.unwrap();
    assert_eq!(store.session_user("s1").await.unwrap(), None);
    assert!(store.delete_user("ada").await.unwrap());
    assert_eq!(store.token_user("tokhash").await.unwrap(), None);
    assert_eq!(store.count_users().await.unwrap(), 0);
    // The web secret is made once and then kept.
    let first = store.web_secret(|| "one".into()).await.unwrap();
    assert_eq!(first, "one");
    assert_eq!(store.web_secret(|| "two".into()).await.unwrap(), "one");
}

pub async fn ui_reads(store: &Store) {
    let v = dag(store, "etl").await;
    for day in ["2024-11-01", "2024-11-02", "2024-11-03"] {
        store
            .create_run(&new_run("etl", v, day, &[("a", 1), ("b", 1)]))
            .await
            .unwrap();
    }
    let last = store.last_scheduled_intervals().await.unwrap();
    assert_eq!(last["etl"].0, t("2024-11-03T02:00:00Z"));
    let dots = store.recent_runs_by_dag(2).await.unwrap();
    let etl = &dots["etl"];
    assert_eq!(etl.len(), 2);
    assert_eq!(etl[0].run_id, "scheduled__2024-11-03T02:00:00+00:00");
    let (runs, cells) = store.grid("etl", 2).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(cells.len(), 4);
    assert!(cells.iter().all(|c| c.state == TaskState::None));
}

pub async fn logs_append_and_follow(store: &Store) {
    let v = dag(store, "etl").await;
    let run = store
        .create_run(&new_run("etl", v, "2024-11-01", &[("a", 1)]))
        .await
        .unwrap()
        .unwrap();
    let ti = store.task_instances(run.id).await.unwrap().remove(0);
    let now = Timestamp::now();
    let lines: Vec<String> = (0..450).map(|i| format!("line {i}")).collect();
    let batch: Vec<(Timestamp, &str, &str)> = lines.iter().map(|l| (now, "stdout", l.as_str())).collect();
    store.append_logs(ti.id, 1, &batch).await.unwrap();
    store
        .append_logs(ti.id, 2, &[(now, "stderr", "second try")])
        .await
        .unwrap();
    let first = store.read_logs(ti.id, 1, 0, 100).await.unwrap();
    assert_eq!(first.len(), 100);
    assert_eq!(first[0].line, "line 0");
    let rest = store
        .read_logs(ti.id, 1, first.last().unwrap().seq, 1000)
        .await
        .unwrap();
    assert_eq!(rest.len(), 350);
    assert_eq!(rest.last().unwrap().line, "line 449");
    let try2 = store.read_logs(ti.id, 2, 0, 10).await.unwrap();
    assert_eq!((try2.len(), try2[0].stream.as_str()), (1, "stderr"));
}

pub async fn users_have_roles(store: &Store) {
    let later = Timestamp::now() + SignedDuration::from_hours(1);
    // Without a role, a new user is an admin, as every user was before roles.
    store.set_user("ada", "h").await.unwrap();
    assert_eq!(store.user_role("ada").await.unwrap(), Some(Role::Admin));
    store.save_user("vic", "h", Some(Role::Viewer)).await.unwrap();
    assert_eq!(store.user_role("vic").await.unwrap(), Some(Role::Viewer));
    // A new password keeps the role unless one is given.
    store.set_user("vic", "h2").await.unwrap();
    assert_eq!(store.user_role("vic").await.unwrap(), Some(Role::Viewer));
    store.save_user("vic", "h3", Some(Role::Op)).await.unwrap();
    assert_eq!(store.user_role("vic").await.unwrap(), Some(Role::Op));
    assert!(store.set_role("vic", Role::Viewer).await.unwrap());
    assert!(!store.set_role("nobody", Role::Admin).await.unwrap());
    assert_eq!(store.user_role("nobody").await.unwrap(), None);
    // Tokens and sessions act with their user's current role.
    store.add_api_token("vic", "ci", "victok", later).await.unwrap();
    store.create_session("vics", "vic", later).await.unwrap();
    assert_eq!(
        store.token_user_role("victok").await.unwrap(),
        Some(("vic".into(), Role::Viewer))
    );
    assert!(store.set_role("vic", Role::Op).await.unwrap());
    assert_eq!(
        store.session_user_role("vics").await.unwrap(),
        Some(("vic".into(), Role::Op))
    );
    assert_eq!(store.token_user_role("nope").await.unwrap(), None);
    let listed: Vec<(String, Role)> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.username, u.role))
        .collect();
    assert_eq!(listed, [("ada".into(), Role::Admin), ("vic".into(), Role::Op)]);
}
