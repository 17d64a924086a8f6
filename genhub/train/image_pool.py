"""The history buffer of generated images that CycleGAN's discriminators learn from (Shrivastava et al.
2017, section 3.3; Zhu et al. 2017, section 4: a pool of 50 images)."""

from __future__ import annotations

import torch


class ImagePool:
    """Keeps up to ``pool_size`` past generated images and mixes them into the discriminator's batches.

    For each image of a batch: while the pool is not full, the image is stored and returned; once it is
    full, with probability 1/2 a uniformly chosen stored image is returned and replaced by the new one,
    otherwise the new image is returned. Random draws use the global torch RNG, so a training run whose
    RNG state is restored (see ``genhub.train.trainer``) draws the same; the stored images are part of
    :meth:`state_dict`, so the pool survives checkpoint and resume exactly.

    Parameters:
        pool_size: number of stored images; 0 disables the pool (:meth:`query` returns its input).
    """

    def __init__(self, pool_size: int = 50):
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, C, H, W) generated images (detached here) -> (B, C, H, W), same dtype and device,
        each either the input image or an older one from the pool."""
        images = images.detach()
        if self.pool_size == 0:
            return images
        chosen = []
        for image in images:
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                chosen.append(image)
            elif torch.rand(()) < 0.5:
                index = int(torch.randint(self.pool_size, ()))
                chosen.append(self.images[index].to(images.device, images.dtype))
                self.images[index] = image.clone()
            else:
                chosen.append(image)
        return torch.stack(chosen)

    def state_dict(self) -> dict:
        """{"pool_size": int, "images": (N, C, H, W) float32 tensor on the CPU, or None when empty}
        (float32 holds bf16/fp16 images exactly; :meth:`query` casts back to the batch's dtype)."""
        return {"pool_size": self.pool_size,
                "images": torch.stack([image.float().cpu() for image in self.images]) if self.images else None}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`.

        Raises:
            ValueError: the saved pool has a different ``pool_size``.
        """
        if state["pool_size"] != self.pool_size:
            raise ValueError(f"the checkpoint's image pool holds {state['pool_size']} images, this run "
                             f"asks for --pool_size {self.pool_size}")
        self.images = [] if state["images"] is None else list(state["images"].unbind(0))
