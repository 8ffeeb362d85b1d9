//! Blocking code writing to a location through the bridge: the bytes
//! arrive whole on commit; a writer dropped uncommitted or a cancel leaves
//! nothing at the destination.

use std::io::{Read, Write};

use tokio_util::sync::CancellationToken;
use updraft_io::{IoError, Location, Stores, bridge, sync_reader};
use updraft_operator_api::connection::{AwsConnection, GcpConnection};

fn stores() -> Stores {
    Stores::new(AwsConnection::default_chain(), GcpConnection::application_default())
}

fn data() -> Vec<u8> {
    (0..(3 << 20) + 12345).map(|i: usize| (i % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_bytes_arrive_whole_and_read_back_from_a_blocking_thread() {
    let dir = tempfile::tempdir().unwrap();
    let to = Location::Local(dir.path().join("out/x.bin"));
    let stores = stores();
    let (mut sink, drive) = bridge(stores.writer(&to).await.unwrap(), &CancellationToken::new());
    let expected = data();
    let src = expected.clone();
    let work = tokio::task::spawn_blocking(move || {
        for piece in src.chunks(70_001) {
            sink.write_all(piece)?;
        }
        assert_eq!(sink.written(), src.len() as u64);
        sink.commit()
    });
    let (done, written) = tokio::join!(work, drive);
    done.unwrap().unwrap();
    assert_eq!(written.unwrap(), expected.len() as u64);

    let reader = stores.reader(&to).await.unwrap();
    let back = tokio::task::spawn_blocking(move || {
        let mut r = sync_reader(reader);
        let mut v = Vec::new();
        r.read_to_end(&mut v).map(|_| v)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(back, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_dropped_uncommitted_or_cancelled_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let stores = stores();

    let to = Location::Local(dir.path().join("dropped.bin"));
    let (mut sink, drive) = bridge(stores.writer(&to).await.unwrap(), &CancellationToken::new());
    let work = tokio::task::spawn_blocking(move || {
        sink.write_all(&data()).unwrap();
        // An encoder failing here: the sink is dropped, never committed.
    });
    let (done, written) = tokio::join!(work, drive);
    done.unwrap();
    assert!(matches!(written, Err(IoError::Abandoned)), "{written:?}");

    let to = Location::Local(dir.path().join("cancelled.bin"));
    let cancel = CancellationToken::new();
    let (mut sink, drive) = bridge(stores.writer(&to).await.unwrap(), &cancel);
    cancel.cancel();
    let work = tokio::task::spawn_blocking(move || {
        let d = data();
        let r = (0..100).try_for_each(|_| sink.write_all(&d));
        r.and_then(|()| sink.commit())
    });
    let (done, written) = tokio::join!(work, drive);
    let e = done.unwrap().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
    assert!(matches!(written, Err(IoError::Cancelled)), "{written:?}");

    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
