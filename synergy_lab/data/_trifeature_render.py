"""Vectorised renderer of Trifeature images (shape x texture x colour), straight from geometry.

Images are computed by batched float32 torch ops (CPU or CUDA), in groups of equal (shape, texture); there
is no per-pixel Python loop. The semantics follow the public Trifeature renderer (Hermann & Lampinen 2020;
docs/trifeature.md), re-implemented from a description of it (not from its code):

* **shape**: one of :data:`SHAPES`, a union of convex polygons (or a disc) in template coordinates
  ``[-1, 1]^2``. The template spans 128/224 of the image side (64 px half-size at 224 px); the shape is
  rotated by ``U[-45, 45)`` degrees and placed uniformly where its circumscribed circle fits. Edges are
  anti-aliased by a 1-px linear ramp of the signed distance.
* **texture**: one of :data:`TEXTURES`, a function of texture coordinates rotated separately by ``U[-45, 45)``
  degrees and shifted by a uniform random phase. Base period ``P = max(6, 10 * res / 224)`` px: 10 px at 224
  px as in the public renderer, never below 6 px so that textures stay readable at low resolution (a small CNN
  read textures markedly worse at 64 px when the period shrank with the image); line width ``0.3 P``. solid:
  everything; stripes: parallel lines, period P; grid: two perpendicular sets; hexgrid: edges of a hexagonal
  tiling (centre spacing 1.5 P); dots: discs of radius ``0.3 L`` on a square lattice ``L = 1.25 P``; noise:
  Bernoulli(.5) cells of ``max(1, P / 6)`` px; triangles: upward triangles of side ``0.69 L`` on the lattice;
  zigzags: lines of slope +-1, wavelength 2 P, spacing 1.25 P; rain: streaks of length P in columns of the
  line width, 35% coverage, at random places; pluses: plus signs of arm ``0.38 L`` on the lattice.
* **colour**: one of :data:`COLOURS`, on a grey ``(.5, .5, .5)`` background:
  ``pixel = colour * m + grey * (1 - m)`` with coverage ``m = shape * texture`` in [0, 1], rounded half up.

Randomness: all per-image parameters come from the ``numpy.random.Generator`` passed in, drawn up front for
the whole batch in a fixed order, and the random cells of noise and rain from a per-image seed drawn with
them; so an image does not depend on the chunking, the batch or the device (beyond float rounding).
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: Shape names, in label order (the public code's order).
SHAPES = (
    "triangle", "square", "plus", "circle", "tee", "rhombus", "pentagon", "star", "fivesquare", "trapezoid",
)
#: Texture names, in label order.
TEXTURES = ("solid", "stripes", "grid", "hexgrid", "dots", "noise", "triangles", "zigzags", "rain", "pluses")
#: Colour names, in label order, and their RGB values in [0, 1].
COLOUR_NAMES = ("red", "green", "blue", "yellow", "pink", "cyan", "purple", "ocean", "orange", "white")
COLOURS = np.array(
    [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0.4, 1), (0, 1, 1), (0.3, 0, 0.5), (0.1, 0.4, 0.5),
     (1, 0.6, 0), (1, 1, 1)],
    dtype=np.float64,
)
GREY = 0.5
MIN_RESOLUTION, MAX_RESOLUTION = 32, 224
#: Half-size of the shape template as a fraction of the image side (a 128-px template at 224 px).
TEMPLATE_HALF = 64.0 / 224.0
#: Rotation ranges (degrees) of the shape and of the texture.
ANGLE_RANGE = (-45.0, 45.0)


# --------------------------------------------------------------------------------------------- geometry
def _regular(k, radius, start_deg=-90.0):
    a = np.deg2rad(start_deg + 360.0 * np.arange(k) / k)
    return np.stack([radius * np.cos(a), radius * np.sin(a)], axis=1)


def _box(x0, y0, x1, y1):
    return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], dtype=np.float64)


def _star(outer=0.95, inner=0.40):
    tips, valleys = _regular(5, outer), _regular(5, inner, start_deg=-90.0 + 36.0)
    pieces = [valleys]
    for k in range(5):  # tip k between valleys k-1 and k
        pieces.append(np.array([valleys[k - 1], tips[k], valleys[k]]))
    return pieces


def _fivesquare(half=0.22, offset=0.62):
    centres = [(0.0, 0.0), (-offset, -offset), (offset, -offset), (-offset, offset), (offset, offset)]
    return [_box(cx - half, cy - half, cx + half, cy + half) for cx, cy in centres]


#: Each shape as a list of convex polygons (their union), in template coordinates (y points down, so
#: "up" is negative y); ``None`` for the disc of :data:`CIRCLE_RADIUS`.
SHAPE_POLYGONS = {
    "triangle": [_regular(3, 0.95) + (0.0, 0.16)],
    "square": [_box(-0.7, -0.7, 0.7, 0.7)],
    "plus": [_box(-0.8, -0.27, 0.8, 0.27), _box(-0.27, -0.8, 0.27, 0.8)],
    "circle": None,
    "tee": [_box(-0.8, -0.8, 0.8, -0.34), _box(-0.23, -0.8, 0.23, 0.8)],
    "rhombus": [np.array([(0.0, -0.92), (0.6, 0.0), (0.0, 0.92), (-0.6, 0.0)])],
    "pentagon": [_regular(5, 0.85)],
    "star": _star(),
    "fivesquare": _fivesquare(),
    "trapezoid": [np.array([(-0.45, -0.55), (0.45, -0.55), (0.88, 0.55), (-0.88, 0.55)])],
}
CIRCLE_RADIUS = 0.8


def _half_planes(poly):
    """Outward unit normals ``n`` and offsets ``d`` of a convex polygon: inside iff ``n . p <= d`` for all."""
    poly = np.asarray(poly, dtype=np.float64)
    centre = poly.mean(axis=0)
    normals, offsets = [], []
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        edge = b - a
        n = np.array([edge[1], -edge[0]]) / np.hypot(*edge)
        if n @ (centre - a) > 0:  # make it point outwards whatever the vertex order
            n = -n
        normals.append(n)
        offsets.append(n @ a)
    return np.array(normals), np.array(offsets)


SHAPE_HALF_PLANES = {
    name: None if polys is None else [_half_planes(p) for p in polys]
    for name, polys in SHAPE_POLYGONS.items()
}
#: Radius of each shape's circumscribed circle about the template centre (template units).
SHAPE_RADIUS = {
    name: CIRCLE_RADIUS if polys is None else float(max(np.hypot(*np.asarray(p).T).max() for p in polys))
    for name, polys in SHAPE_POLYGONS.items()
}


def texture_period(resolution: int) -> float:
    """Base texture period in px: ``max(6, 10 * resolution / 224)`` (10 px at 224 px, 6 px below 135 px)."""
    return max(6.0, 10.0 * resolution / 224.0)


def window_size(resolution: int) -> int:
    """Side of the square window around the shape that every image's shape fits in, whatever its rotation."""
    return min(resolution, int(math.ceil(2 * TEMPLATE_HALF * resolution * max(SHAPE_RADIUS.values()))) + 4)


# ------------------------------------------------------------------------------------------ parameters
def draw_render_params(shapes, resolution, rng: np.random.Generator) -> dict:
    """Per-image random parameters, drawn for the whole batch in a fixed order.

    Returns a dict of float64/int64 arrays of length ``n``: ``shape_angle`` and ``texture_angle`` (degrees),
    ``cx``, ``cy`` (shape centre, pixels), ``phase_u``, ``phase_v`` (texture phase, pixels, within one
    lattice cell) and ``cell_seed`` (seed of the random cells of ``noise`` and ``rain``).
    """
    n = len(shapes)
    half = TEMPLATE_HALF * resolution
    radius = np.array([SHAPE_RADIUS[SHAPES[s]] for s in shapes]) * half + 1.0
    shape_angle = rng.uniform(*ANGLE_RANGE, size=n)
    texture_angle = rng.uniform(*ANGLE_RANGE, size=n)
    cx = rng.uniform(radius, resolution - radius)
    cy = rng.uniform(radius, resolution - radius)
    phase = rng.uniform(0.0, 1.0, size=(n, 2))  # fraction of a (lattice) period
    cell_seed = rng.integers(0, 2**63 - 1, size=n, dtype=np.int64)
    return {"shape_angle": shape_angle, "texture_angle": texture_angle, "cx": cx, "cy": cy,
            "phase_u": phase[:, 0], "phase_v": phase[:, 1], "cell_seed": cell_seed}


# ------------------------------------------------------------------------------------- shape coverage
# Every function below maps pixel coordinates to a coverage in [0, 1], with a 1-px linear anti-aliasing ramp
# of the signed distance to the boundary; the full-size tensors are updated in place to limit memory traffic.

def _shape_coverage(name, x, y, cx, cy, angle, half):
    """Coverage of shape ``name``; ``x`` (n,1,W) and ``y`` (n,H,1) pixel centres; the rest (n,1,1)."""
    dx, dy = x - cx, y - cy
    if SHAPE_HALF_PLANES[name] is None:  # disc
        dist = torch.add(dx * dx, dy * dy).sqrt_()
        return dist.neg_().add_(CIRCLE_RADIUS * half + 0.5).clamp_(0.0, 1.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    cover, tmp = None, None
    for normals, offsets in SHAPE_HALF_PLANES[name]:
        piece = None
        for (nx, ny), d in zip(normals.tolist(), offsets.tolist(), strict=True):
            # Outward normal rotated with the shape, n' = R(angle) n; coverage before clamping is
            # d * half + 0.5 - n' . (p - c), and the polygon's is the minimum over its edges.
            rx, ry = cos * nx - sin * ny, sin * nx + cos * ny
            a, b = (d * half + 0.5) - rx * dx, ry * dy
            if piece is None:
                piece = torch.sub(a, b)
            else:
                tmp = torch.sub(a, b, out=tmp)
                torch.minimum(piece, tmp, out=piece)
        cover = piece if cover is None else torch.maximum(cover, piece, out=cover)  # union of the pieces
    return cover.clamp_(0.0, 1.0)


# ------------------------------------------------------------------------------------------- textures
def _folded(t, period):
    """``|(t mod period) - period/2|``: distance to the nearest odd multiple of ``period/2``."""
    return torch.remainder(t, period).sub_(period / 2).abs_()


def _lines(t, period, width):
    """Lines of ``width`` px, ``period`` px apart along ``t``, centred on odd multiples of ``period / 2``."""
    # Distance to the line centre is period/2 - folded; coverage = width/2 + 0.5 - distance.
    return _folded(t, period).add_(width / 2 + 0.5 - period / 2).clamp_(0.0, 1.0)


_SQRT3 = math.sqrt(3.0)


def _hexgrid(u, v, period, width):
    # Hexagonal tiling with centre spacing a: centres on two rectangular lattices (a, a*sqrt3), the second
    # offset by half a cell in both directions. The cell boundary is where the hexagonal norm
    # max(|x|, |x/2 + sqrt3/2 y|, |x/2 - sqrt3/2 y|) = max(A, A/2 + sqrt3/2 B) (A = |x|, B = |y|) reaches a/2,
    # and the point's own centre is the candidate with the smaller norm.
    a = 1.5 * period
    ax, ay = a, a * _SQRT3
    a1, b1 = _folded(u, ax), _folded(v, ay)
    a2, b2 = torch.sub(ax / 2, a1), torch.sub(ay / 2, b1)

    def norm(aa, bb):
        return torch.maximum(aa, torch.add(bb, aa, alpha=1.0 / _SQRT3).mul_(_SQRT3 / 2))

    h = torch.minimum(norm(a1, b1), norm(a2, b2))
    return h.add_(width / 2 + 0.5 - a / 2).clamp_(0.0, 1.0)


def _dots(u, v, cell):
    a, b = _folded(u, cell), _folded(v, cell)
    dist = a.mul_(a).addcmul_(b, b).sqrt_()
    return dist.neg_().add_(0.3 * cell + 0.5).clamp_(0.0, 1.0)


def _triangles(u, v, cell):
    # Upward-pointing equilateral triangle (y down) of inradius 0.2 cell (side 0.69 cell), bounding box
    # centred in the cell: outward normals (0, 1) and (+-sqrt3/2, -1/2).
    r = 0.2 * cell
    a = _folded(u, cell)
    dv = torch.remainder(v, cell).sub_(cell / 2 + 0.1 * cell)
    side = a.mul_(-_SQRT3 / 2).add_(dv, alpha=0.5).add_(r + 0.5)
    base = dv.neg_().add_(r + 0.5)
    return torch.minimum(side, base, out=side).clamp_(0.0, 1.0)


def _pluses(u, v, cell, width):
    a, b = _folded(u, cell), _folded(v, cell)
    arm, hw = 0.38 * cell + 0.5, width / 2 + 0.5
    bar1 = torch.minimum(torch.sub(arm, a), torch.sub(hw, b))
    bar2 = torch.minimum(a.neg_().add_(hw), b.neg_().add_(arm))
    return torch.maximum(bar1, bar2, out=bar1).clamp_(0.0, 1.0)


def _zigzags(u, v, period, width):
    # Lines v = tri(u) + k * spacing, tri a triangle wave of slope +-1 and wavelength 2 * period; the vertical
    # width is width * sqrt2 so that the perpendicular width is ``width``.
    spacing, wavelength = 1.25 * period, 2.0 * period
    tri = _folded(u, wavelength)
    return _lines(v.sub_(tri), spacing, width * math.sqrt(2.0))


def _cell_tables(seeds, shape, p, device):
    """One Bernoulli(p) table per image, each from its own seed."""
    tables = [np.random.default_rng(int(s)).random(shape, dtype=np.float32) < p for s in seeds]
    return torch.from_numpy(np.stack(tables)).to(device=device, dtype=torch.float32)


def _noise(u, v, seeds, extent, cell):
    n = u.shape[0]
    size = int(math.ceil(2 * extent / cell)) + 2
    table = _cell_tables(seeds, (size, size), 0.5, u.device).view(n, -1)
    iu = u.add_(extent).div_(cell).floor_().clamp_(0, size - 1)
    iv = v.add_(extent).div_(cell).floor_().clamp_(0, size - 1)
    idx = iu.mul_(size).add_(iv).long().view(n, -1)
    return table.gather(1, idx).view(u.shape)


def _rain(u, v, seeds, extent, width, length):
    # Columns of ``width`` px along u; along v, cells of 2 * length px, each holding, with probability 0.7,
    # one streak of ``length`` px at the cell start; every column is shifted by its own random offset. So
    # about 35% of the area is covered, by short parallel streaks at random places.
    n = u.shape[0]
    cell = 2.0 * length
    ncol = int(math.ceil(2 * extent / width)) + 2
    ncell = int(math.ceil((2 * extent + cell) / cell)) + 2
    table = _cell_tables(seeds, (ncol, ncell), 0.7, u.device).view(n, -1)
    offsets = torch.from_numpy(
        np.stack([np.random.default_rng([int(s), 1]).uniform(0.0, cell, ncol) for s in seeds])
    ).to(device=u.device, dtype=torch.float32)
    col = u.add_(extent).div_(width).floor_().clamp_(0, ncol - 1).long().view(n, -1)
    vv = v.add_(extent).view(n, -1).add_(offsets.gather(1, col))
    j = torch.div(vv, cell).floor_()
    inside = vv.sub_(j * cell) < length
    present = table.gather(1, col.mul_(ncell).add_(j.clamp_(0, ncell - 1).long()))
    return present.mul_(inside).view(u.shape)


def _texture(name, u, v, seeds, period, extent):
    """Texture coverage (``u``, ``v`` are consumed); ``None`` for ``solid``."""
    width = 0.3 * period
    cell = 1.25 * period
    if name == "solid":
        return None
    if name == "stripes":
        return _lines(u, period, width)
    if name == "grid":
        return torch.maximum(_lines(u, period, width), _lines(v, period, width))
    if name == "hexgrid":
        return _hexgrid(u, v, period, width)
    if name == "dots":
        return _dots(u, v, cell)
    if name == "noise":
        return _noise(u, v, seeds, extent, max(1.0, period / 6.0))
    if name == "triangles":
        return _triangles(u, v, cell)
    if name == "zigzags":
        return _zigzags(u, v, period, width)
    if name == "rain":
        return _rain(u, v, seeds, extent, width, period)
    if name == "pluses":
        return _pluses(u, v, cell, width)
    raise ValueError(f"unknown texture {name!r}")


# ---------------------------------------------------------------------------------------------- render
#: Most window pixels per group of images processed together (~0.5 MB per float32 tensor: cache-friendly).
CHUNK_PIXELS = 2**17


def render_images(shapes, textures, colours, params, resolution, *, device="cpu", period=None,
                  num_threads=1) -> np.ndarray:
    """Render images from attribute indices and the parameters of :func:`draw_render_params`.

    Returns a ``uint8`` array ``(n, 3, resolution, resolution)``. Each image only depends on its own
    attributes and parameters (not on the batch, the chunking or, beyond float rounding, the device).
    Images are processed in groups of equal (shape, texture), each a few batched tensor ops.

    ``num_threads`` sets torch's intra-op threads while rendering on the CPU (restored afterwards; ``None``
    leaves the global setting). The default, 1, is robust: the ops are many and small, and on a busy machine
    every extra thread waits at each op's barrier (2 threads ran ~10x slower than 1 under a load of 5 on
    2 cores), while on an idle one a second thread gains little.
    """
    device = torch.device(device)
    if num_threads is None or device.type != "cpu":
        return _render(shapes, textures, colours, params, resolution, device, period)
    previous = torch.get_num_threads()
    torch.set_num_threads(int(num_threads))
    try:
        return _render(shapes, textures, colours, params, resolution, device, period)
    finally:
        torch.set_num_threads(previous)


def _render(shapes, textures, colours, params, resolution, device, period):
    shapes, textures, colours = (np.asarray(a, dtype=np.int64) for a in (shapes, textures, colours))
    n, res = len(shapes), int(resolution)
    period = texture_period(res) if period is None else float(period)
    grey = int(round(GREY * 255))
    out = np.empty((n, 3, res, res), dtype=np.uint8)
    if n == 0:
        return out
    out.fill(grey)
    win = window_size(res)
    half = TEMPLATE_HALF * res
    # Window origins (integers) such that the window contains the shape's circumscribed circle.
    ox = np.clip(np.floor(params["cx"] - win / 2), 0, res - win).astype(np.int64)
    oy = np.clip(np.floor(params["cy"] - win / 2), 0, res - win).astype(np.int64)
    phase_range = 8.0 * period
    extent = win / math.sqrt(2.0) + phase_range / 2 + 2.0  # bound on |u|, |v| (noise and rain tables)
    chunk = max(1, CHUNK_PIXELS // (win * win))
    ar = torch.arange(win, device=device, dtype=torch.float32) + 0.5
    xc, yc = (ar - win / 2).view(1, 1, -1), (ar - win / 2).view(1, -1, 1)  # texture frame: window-centred
    f32 = {"device": device, "dtype": torch.float32}
    shape_rad = np.deg2rad(params["shape_angle"])
    tex_rad = np.deg2rad(params["texture_angle"])
    pu_all = (params["phase_u"] - 0.5) * phase_range
    pv_all = (params["phase_v"] - 0.5) * phase_range
    rgb_all = COLOURS * 255.0 - GREY * 255.0

    order = np.lexsort((textures, shapes))
    key = shapes[order] * len(TEXTURES) + textures[order]
    bounds = np.flatnonzero(np.diff(key)) + 1
    for group in np.split(order, bounds):
        s, t = SHAPES[shapes[group[0]]], TEXTURES[textures[group[0]]]
        for start in range(0, len(group), chunk):
            g = group[start:start + chunk]

            def col(values, g=g):
                return torch.as_tensor(np.asarray(values)[g], **f32).view(-1, 1, 1)

            x = col(ox) + ar.view(1, 1, -1)
            y = col(oy) + ar.view(1, -1, 1)
            m = _shape_coverage(s, x, y, col(params["cx"]), col(params["cy"]), col(shape_rad), half)
            if t != "solid":
                a = col(tex_rad)
                cos, sin = torch.cos(a), torch.sin(a)
                u = torch.add(cos * xc + col(pu_all), sin * yc)
                v = torch.sub(cos * yc + col(pv_all), sin * xc)
                m.mul_(_texture(t, u, v, params["cell_seed"][g], period, extent))
            rgb = torch.as_tensor(rgb_all[colours[g]], **f32).view(-1, 3, 1, 1)
            # pixel = grey + m * (colour - grey), rounded half up (all values are in [0, 255]).
            img = torch.addcmul(torch.full((1, 1, 1, 1), GREY * 255.0 + 0.5, **f32), m.unsqueeze(1), rgb)
            img = img.to(torch.uint8).cpu().numpy()
            for i, j in enumerate(g):
                out[j, :, oy[j]:oy[j] + win, ox[j]:ox[j] + win] = img[i]
    return out
