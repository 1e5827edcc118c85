//! An image's own ENTRYPOINT and CMD, read from its registry (anonymously) for the
//! kubernetes executor, which wraps that program when a job sets no `entrypoint:`.

use terrace_exec::kubernetes::upload::{ImageCommand, ImageCommands};
use terrace_registry::{Client, Reference};

pub struct RegistryCommands {
    pub client: Client,
}

#[async_trait::async_trait]
impl ImageCommands for RegistryCommands {
    async fn command(&self, image: &str) -> Result<ImageCommand, String> {
        let reference = Reference::parse(image).map_err(|e| e.to_string())?;
        let own = self.client.run_config(&reference).await.map_err(|e| e.to_string())?;
        Ok(ImageCommand { entrypoint: own.entrypoint, cmd: own.cmd })
    }
}
