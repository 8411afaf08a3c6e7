"""Readable tables of metric results, with a one-line explanation of each number."""
from __future__ import annotations

EXPLAIN = {
    "psnr": "peak signal-to-noise ratio of outputs vs targets, dB; higher is better",
    "ssim": "structural similarity of outputs vs targets (Wang et al. 2004); 1 = identical",
    "l1": "mean absolute error of outputs vs targets in [-1, 1] units (pix2pix's L1); lower is better",
    "lpips": "learned perceptual distance (AlexNet LPIPS v0.1); lower is better",
    "fid": "Fréchet distance of feature Gaussians; lower is better, 0 = same statistics",
    "kid": "kernel (MMD^2) distance, unbiased; lower is better, ~0 = same distribution",
    "is": "Inception Score; higher = confident and varied classes",
    "precision": "share of generated images on the real manifold (quality)",
    "recall": "share of real images on the generated manifold (variety)",
    "density": "how densely generated images sit among real neighbours (~1 for matching sets)",
    "coverage": "share of real neighbourhoods holding a generated image",
    "memorization_distance": "mean min cosine distance generated -> real; < 0.1 looks memorised (for inception)",
    "mifid": "FID divided by the thresholded memorisation distance (Kaggle dog-generation metric)",
}


def format_table(results: dict) -> str:
    """Metric | value | meaning lines, then nested reports (modes, memorisation)."""
    lines = []
    if "num_pairs" in results:
        lines.append(f"held-out pairs: {results['num_pairs']}")
    if "extractor" in results:
        lines.append(f"extractor: {results['extractor']}  (real {results.get('num_real')}, "
                     f"generated {results.get('num_fake')})")
    for key, text in EXPLAIN.items():
        if key in results:
            spread = results.get(f"{key}_std")
            value = f"{results[key]:.5g}" + (f" ± {spread:.2g}" if spread is not None else "")
            lines.append(f"  {key:>22}  {value:<18} {text}")
    if "modes" in results:
        modes = results["modes"]
        lines.append(f"  {'modes':>22}  {modes['covered']}/{modes['of']:<13} KL to uniform {modes['kl']:.3f} "
                     f"over {modes['num']} images (Stacked-MNIST DCGAN: 99 modes, KL 3.4)")
    if "memorization" in results:
        report = results["memorization"]
        lines.append(f"  {'memorization':>22}  median {report['median']:.4f}, min {report['min']:.4f}, "
                     f"{report['share_below_threshold']:.1%} below 0.1"
                     + (f"; closest pairs: {report['closest_pairs_png']}" if "closest_pairs_png" in report else ""))
    return "\n".join(lines)
