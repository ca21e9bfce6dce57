"""SimCLR-style image augmentation in batches, on the device of the images (docs/trifeature.md).

:class:`SimCLRAugment` applies, to every image of a batch independently: random resized crop, horizontal
flip, colour jitter (brightness, contrast, saturation, hue, in a random order per image), grayscale and
Gaussian blur, then normalisation -- the torchvision SimCLR pipeline the Trifeature code uses, re-implemented
as a few batched torch ops (one ``grid_sample`` for all crops, grouped convolutions for per-image blurs), so
that it runs on the GPU next to the model and never starves it.

Randomness: every random number comes from the ``torch.Generator`` passed in (or torch's default one), is
drawn on the generator's device in a fixed order and amount whatever the flags and probabilities, and is then
moved to the images' device. So the same generator state gives the same augmentation on CPU and GPU (up to
float rounding), and turning one operation off does not change the random draws of the others.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "SimCLRAugment", "hsv_to_rgb", "normalize_images", "rgb_to_hsv",
           "to_float_images"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: ITU-R 601-2 luma weights (as torchvision's grayscale).
LUMA = (0.299, 0.587, 0.114)
#: Attempts at drawing a crop box that fits before falling back to the whole image (as torchvision).
CROP_ATTEMPTS = 10


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` images as float32 in [0, 1]: uint8 is divided by 255, floats are taken as they are."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        got = getattr(images, "shape", type(images))
        raise ValueError(f"images must be a (N, 3, H, W) tensor, got {got}")
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    if not images.is_floating_point():
        raise ValueError(f"images must be uint8 or floating point, got {images.dtype}")
    return images.float()


def _grey(x):
    r, g, b = x.unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] ``(N, 3, H, W)`` to HSV, every channel in [0, 1] (hue 0 for greys)."""
    r, g, b = x.unbind(1)
    maxc, _ = x.max(1)
    minc, _ = x.min(1)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    s = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)),
                    torch.zeros_like(maxc))
    h = torch.where(maxc == r, (g - b) / safe,
                    torch.where(maxc == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    h = torch.where(delta > 0, torch.remainder(h / 6.0, 1.0), torch.zeros_like(h))
    return torch.stack([h, s, maxc], 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`: channel_n = v - v s clamp(min(k, 4 - k), 0, 1), k = (n + 6h) mod 6."""
    h, s, v = x.unbind(1)
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(n + 6.0 * h, 6.0)
        channels.append(v - v * s * torch.minimum(k, 4.0 - k).clamp(0.0, 1.0))
    return torch.stack(channels, 1)


def normalize_images(images, size=None, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """Deterministic model input: float, resized to ``size`` (bilinear, anti-aliased) if given, normalised."""
    x = to_float_images(images)
    if size is not None and tuple(x.shape[-2:]) != (int(size), int(size)):
        x = F.interpolate(x, size=(int(size), int(size)), mode="bilinear", align_corners=False,
                          antialias=True)
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


def _pair(name, value, lo=None, hi=None):
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of numbers, got {value!r}") from None
    if not a <= b or (lo is not None and a < lo) or (hi is not None and b > hi):
        raise ValueError(f"{name} must be an ordered pair within [{lo}, {hi}], got {value!r}")
    return a, b


def _probability(name, value):
    if isinstance(value, bool):
        value = float(value)
    if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


class SimCLRAugment:
    """Batched SimCLR augmentation: ``augment(images, generator) -> (N, 3, size, size)`` float32.

    Parameters
    ----------
    size : int
        Output side in pixels.
    scale, ratio : pairs of float
        Random resized crop: area fraction ``U(scale)`` and aspect ratio ``exp(U(log ratio))``; the first of
        10 draws that fits in the image is used, else the whole image (torchvision's rule). Crops are
        continuous (sub-pixel) boxes sampled bilinearly with no anti-aliasing: render the images at the
        output size (or larger crops only upsample).
    colour_jitter : bool
        Whether to apply colour jitter at all (with ``p_jitter``). Turn it off for ablations: it perturbs the
        colour, which carries the synergy label. Grayscale (``p_gray``) also removes colour; set it to 0 too
        for colour-preserving augmentation.
    strength : 4 floats
        Brightness, contrast, saturation and hue strengths (factors ``U[max(0, 1-s), 1+s]``, hue shift
        ``U[-s, s]`` of a turn); torchvision's ``ColorJitter(.4, .4, .4, .1)``.
    p_jitter, p_gray, p_blur : float
        Probabilities of colour jitter, grayscale and Gaussian blur.
    sigma : pair of float
        Blur standard deviation range in pixels (``U(sigma)``); kernels of ``2 * ceil(3 * sigma_max) + 1``
        taps, reflect padding.
    flip : bool or float
        Horizontal flip probability (True means 0.5).
    normalize : bool
        Subtract ``mean`` and divide by ``std`` per channel (ImageNet statistics by default).
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), colour_jitter=True,
                 strength=(0.4, 0.4, 0.4, 0.1), p_jitter=0.8, p_gray=0.2, p_blur=0.5, sigma=(0.1, 2.0),
                 flip=True, normalize=True, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, got {size!r}")
        self.size = size
        self.scale = _pair("scale", scale, 0.0, 1.0)
        if self.scale[1] <= 0:
            raise ValueError(f"scale must allow a positive area, got {scale!r}")
        self.ratio = _pair("ratio", ratio, 0.0)
        if self.ratio[0] <= 0:
            raise ValueError(f"ratio must be positive, got {ratio!r}")
        self.colour_jitter = bool(colour_jitter)
        strength = tuple(float(s) for s in strength)
        if len(strength) != 4 or min(strength) < 0 or strength[3] > 0.5:
            raise ValueError(f"strength must be 4 non-negative floats with hue <= 0.5, got {strength!r}")
        self.strength = strength
        self.p_jitter = _probability("p_jitter", p_jitter)
        self.p_gray = _probability("p_gray", p_gray)
        self.p_blur = _probability("p_blur", p_blur)
        self.sigma = _pair("sigma", sigma, 1e-6)
        self.p_flip = 0.5 if flip is True else _probability("flip", flip)
        self.normalize = bool(normalize)
        self.mean, self.std = tuple(mean), tuple(std)

    @classmethod
    def probe(cls, size, scale=(0.5, 1.0), **kwargs) -> SimCLRAugment:
        """The public code's probe-time augmentation: random resized crop (scale .5-1), normalisation."""
        defaults = {"colour_jitter": False, "p_gray": 0.0, "p_blur": 0.0, "flip": False}
        return cls(size, scale=scale, **{**defaults, **kwargs})

    def __repr__(self) -> str:
        return (f"SimCLRAugment(size={self.size}, scale={self.scale}, colour_jitter={self.colour_jitter}, "
                f"strength={self.strength}, p_jitter={self.p_jitter}, p_gray={self.p_gray}, "
                f"p_blur={self.p_blur}, "
                f"sigma={self.sigma}, p_flip={self.p_flip}, normalize={self.normalize})")

    # ------------------------------------------------------------------------------------- randomness
    def draw(self, n: int, generator=None) -> dict:
        """All random numbers of one call for ``n`` images, on the generator's device (CPU by default)."""
        dev = generator.device if generator is not None else torch.device("cpu")

        def rand(*shape):
            return torch.rand(*shape, generator=generator, device=dev)

        return {"area": rand(n, CROP_ATTEMPTS), "log_ratio": rand(n, CROP_ATTEMPTS), "position": rand(n, 2),
                "flip": rand(n), "jitter": rand(n), "factors": rand(n, 4), "order": rand(n, 4),
                "gray": rand(n), "blur": rand(n), "sigma": rand(n)}

    # ------------------------------------------------------------------------------------------- ops
    def _crop_boxes(self, r, height, width):
        """(w, h, x0, y0) in pixels of every image's crop box."""
        area = height * width
        target = area * (self.scale[0] + (self.scale[1] - self.scale[0]) * r["area"])
        lo, hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = torch.exp(lo + (hi - lo) * r["log_ratio"])
        w, h = torch.sqrt(target * aspect), torch.sqrt(target / aspect)
        fits = (w <= width) & (h <= height) & (w > 0) & (h > 0)
        first = torch.argmax(fits.int(), dim=1)  # first attempt that fits (0 if none: masked below)
        any_fit = fits.any(dim=1)
        w = w.gather(1, first[:, None])[:, 0]
        h = h.gather(1, first[:, None])[:, 0]
        # Fallback: the largest centred box of the image whose aspect ratio is within ``ratio``.
        in_ratio = width / height
        fw, fh = float(width), float(height)
        if in_ratio < self.ratio[0]:
            fh = fw / self.ratio[0]
        elif in_ratio > self.ratio[1]:
            fw = fh * self.ratio[1]
        w = torch.where(any_fit, w, torch.full_like(w, fw))
        h = torch.where(any_fit, h, torch.full_like(h, fh))
        x0 = (width - w) * r["position"][:, 0]
        y0 = (height - h) * r["position"][:, 1]
        x0 = torch.where(any_fit, x0, torch.full_like(x0, (width - fw) / 2))
        y0 = torch.where(any_fit, y0, torch.full_like(y0, (height - fh) / 2))
        return w, h, x0, y0

    def _crop(self, x, r):
        n, _, height, width = x.shape
        w, h, x0, y0 = self._crop_boxes(r, height, width)
        # Normalised sampling coordinates (align_corners=False): output pixel centres mapped into the box.
        base = (torch.arange(self.size, dtype=x.dtype, device=x.device) + 0.5) / self.size  # in (0, 1)
        gx = (2 * (x0[:, None] + w[:, None] * base) / width - 1).to(x.dtype)  # (n, size)
        gy = (2 * (y0[:, None] + h[:, None] * base) / height - 1).to(x.dtype)
        grid = torch.stack([gx[:, None, :].expand(n, self.size, self.size),
                            gy[:, :, None].expand(n, self.size, self.size)], dim=-1)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def _jitter(self, x, r, apply):
        sb, sc, ss, sh = self.strength

        def factor(u, s):
            lo = max(0.0, 1.0 - s)
            return lo + (1.0 + s - lo) * u

        f = r["factors"]
        factors = torch.stack([factor(f[:, 0], sb), factor(f[:, 1], sc), factor(f[:, 2], ss),
                               (2.0 * f[:, 3] - 1.0) * sh], 1)
        order = torch.argsort(r["order"], dim=1)  # a random permutation of the 4 ops per image
        for step in range(4):
            for op in range(4):
                idx = torch.nonzero(apply & (order[:, step] == op)).flatten()
                if idx.numel() == 0:
                    continue
                y, k = x[idx], factors[idx, op].view(-1, 1, 1, 1)
                if op == 0:  # brightness
                    y = (y * k).clamp_(0.0, 1.0)
                elif op == 1:  # contrast: blend with the image's mean grey level
                    m = _grey(y).mean(dim=(1, 2, 3), keepdim=True)
                    y = (k * y + (1.0 - k) * m).clamp_(0.0, 1.0)
                elif op == 2:  # saturation: blend with the grey image
                    y = (k * y + (1.0 - k) * _grey(y)).clamp_(0.0, 1.0)
                else:  # hue: rotate the HSV hue
                    hsv = rgb_to_hsv(y)
                    hsv = torch.cat([torch.remainder(hsv[:, :1] + k, 1.0), hsv[:, 1:]], 1)
                    y = hsv_to_rgb(hsv).clamp_(0.0, 1.0)
                x[idx] = y
        return x

    def _blur(self, x, r, apply):
        idx = torch.nonzero(apply).flatten()
        if idx.numel() == 0:
            return x
        m, c, height, width = idx.numel(), x.shape[1], x.shape[2], x.shape[3]
        radius = min(int(math.ceil(3.0 * self.sigma[1])), height - 1, width - 1)
        sigma = self.sigma[0] + (self.sigma[1] - self.sigma[0]) * r["sigma"][idx]
        taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        kernel = torch.exp(-0.5 * (taps[None, :] / sigma[:, None]) ** 2)
        kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, dim=0)  # (m*c, K)
        y = x[idx].reshape(1, m * c, height, width)
        y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), kernel.view(m * c, 1, 1, -1),
                     groups=m * c)
        y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), kernel.view(m * c, 1, -1, 1),
                     groups=m * c)
        x[idx] = y.view(m, c, height, width)
        return x

    # ------------------------------------------------------------------------------------------- call
    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a batch: ``(N, 3, H, W)`` uint8 (0-255) or float (0-1) -> float32 ``(N, 3, size, size)``.

        Each image gets its own draws; call it once per view (and per image of a pair).
        """
        x = to_float_images(images)
        n, device = x.shape[0], x.device
        r = {k: v.to(device) for k, v in self.draw(n, generator).items()}
        if n == 0:
            return x.new_zeros((0, 3, self.size, self.size))
        x = self._crop(x, r)
        if self.colour_jitter and self.p_jitter > 0:
            x = self._jitter(x, r, r["jitter"] < self.p_jitter)
        if self.p_gray > 0:
            x = torch.where((r["gray"] < self.p_gray).view(-1, 1, 1, 1), _grey(x).expand_as(x), x)
        if self.p_blur > 0:
            x = self._blur(x, r, r["blur"] < self.p_blur)
        if self.p_flip > 0:
            x = torch.where((r["flip"] < self.p_flip).view(-1, 1, 1, 1), x.flip(-1), x)
        if self.normalize:
            m = torch.as_tensor(self.mean, dtype=x.dtype, device=device).view(1, 3, 1, 1)
            s = torch.as_tensor(self.std, dtype=x.dtype, device=device).view(1, 3, 1, 1)
            x = (x - m) / s
        return x

    def pair(self, x1, x2, generator=None):
        """Augment both images of a batch of pairs, each image independently: ``(aug(x1), aug(x2))``."""
        return self(x1, generator), self(x2, generator)
