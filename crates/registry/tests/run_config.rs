//! An image's own command (ENTRYPOINT and CMD) read from the reference registry: from a
//! single image's config blob, from the child of an index for this host's architecture,
//! empty for an image that sets none, and an error naming an image that does not exist.

mod support;

use support::image::{Pusher, image, image_running, index_running};
use support::registry::{Auth, Registry};
use support::{bounded, client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_images_entrypoint_and_cmd_come_from_its_config() {
    bounded(async {
        let registry = Registry::start(Auth::None);
        let push = Pusher::anonymous(&registry.host);
        push.image("team/cfn", "1", &image_running("1", "amd64", &["/entrypoint.sh"], &["start"])).await;
        push.image("team/plain", "1", &image("1", "amd64")).await;
        let arch = match std::env::consts::ARCH {
            "aarch64" => "arm64",
            _ => "amd64",
        };
        push.index("team/multi", "1", &index_running("1", &["s390x", arch])).await;
        let c = client().build().unwrap();

        let cfn = c.run_config(&registry.reference("team/cfn:1")).await.unwrap();
        assert_eq!(
            (cfn.entrypoint.as_slice(), cfn.cmd.as_slice()),
            (&["/entrypoint.sh".to_string()][..], &["start".to_string()][..])
        );
        let plain = c.run_config(&registry.reference("team/plain:1")).await.unwrap();
        assert_eq!(plain, terrace_registry::RunConfig::default(), "no command: both empty");
        let multi = c.run_config(&registry.reference("team/multi:1")).await.unwrap();
        assert_eq!(multi.cmd, [arch], "the child for this host's architecture");

        let e = c.run_config(&registry.reference("team/cfn:9")).await.unwrap_err();
        assert!(e.is_not_found() && e.to_string().contains("team/cfn:9 does not exist"), "{e}");
    })
    .await;
}
