//! `api_lifecycle`: define / start / suspend / resume / destroy / undefine
//! through `Connect` on the WASM test driver, in calls per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wirt::Connect;

const XML: &str = "<domain type='test'><name>bench</name><memory unit='MiB'>128</memory>\
                   <vcpu>1</vcpu><os><type>hvm</type></os></domain>";

fn lifecycle(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = dir.path().join("node.xml");
    std::fs::write(&node, "<node/>").expect("node file");
    let conn = Connect::open(&format!("test://{}", node.display())).expect("open");
    let mut group = c.benchmark_group("api_lifecycle");
    // Six API calls per iteration.
    group.throughput(Throughput::Elements(6));
    group.bench_function("define_start_suspend_resume_destroy_undefine", |b| {
        b.iter(|| {
            let dom = conn.define_domain_xml(XML, 0).expect("define");
            dom.start(0).expect("start");
            dom.suspend().expect("suspend");
            dom.resume().expect("resume");
            dom.destroy().expect("destroy");
            dom.undefine(0).expect("undefine");
        })
    });
    let dom = conn.define_domain_xml(XML, 0).expect("define");
    dom.start(0).expect("start");
    group.throughput(Throughput::Elements(1));
    group.bench_function("get_state", |b| b.iter(|| dom.state().expect("state")));
    group.bench_function("get_info", |b| b.iter(|| dom.info().expect("info")));
    group.finish();
}

criterion_group!(benches, lifecycle);
criterion_main!(benches);
