"""Image generation, offline on a CPU in seconds, reporting its phases and images to aicarbon.

A small generative model of handwritten digits: principal components of scikit-learn's bundled
8x8 digits (nothing is downloaded) and a Gaussian mixture fitted in that space. Generating an
image samples the mixture and decodes the sample back to pixels, one image at a time. The
phases ("load", "train", "generate") and the images (aicarbon.add_units) reach aicarbon's
report:

    aicarbon run examples/generate_images.py --images 200
"""

from __future__ import annotations

import argparse
import time

import aicarbon
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="images to generate (default 200)")
    parser.add_argument("--components", type=int, default=24, help="latent dimensions (default 24)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with aicarbon.phase("load"):
        pixels = load_digits().data / 16.0
    with aicarbon.phase("train"):
        pca = PCA(n_components=args.components, whiten=True, random_state=args.seed).fit(pixels)
        mixture = GaussianMixture(n_components=40, covariance_type="full", random_state=args.seed)
        mixture.fit(pca.transform(pixels))
    start = time.perf_counter()
    with aicarbon.phase("generate"):
        images = []
        for _ in range(args.images):
            latent, _ = mixture.sample(1)
            images.append(np.clip(pca.inverse_transform(latent), 0.0, 1.0).reshape(8, 8))
            aicarbon.add_units(1, unit="images")
    took = time.perf_counter() - start
    mean_ink = float(np.mean([img.mean() for img in images]))
    print(
        f"generated {args.images:,} 8x8 digit images in {took:.1f} s ({args.images / took:,.0f}/s); "
        f"mean ink {mean_ink:.2f} (training images: {pixels.mean():.2f})"
    )


if __name__ == "__main__":
    main()
