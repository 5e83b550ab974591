"""Tumour geometry: the five tumour types and ``no_tumor``, with their atypical variants.

Each type follows the DESIGN.md table (where it grows, its compartments); intensities
are in :mod:`contrast`. To keep any single feature from deciding the class, every type
has one atypical variant drawn at a fixed, documented share (``ATYPICAL_SHARES``):

=====================  ========================  =====  ==========================================
type                   atypical variant          share  looks like
=====================  ========================  =====  ==========================================
glioblastoma           ``no_necrosis``           0.15   solid enhancing mass (lymphoma, metastasis)
lower_grade_glioma     ``enhancing``             0.15   patchy enhancing focus (glioblastoma)
metastasis             ``solitary_large``        0.15   one large necrotic ring mass (glioblastoma)
meningioma             ``non_calcified_isodense`` 0.20  no calcification, CT iso (intra-axial mass)
lymphoma               ``ring_enhancing``        0.15   necrotic centre (glioblastoma, metastasis)
no_tumor               ``white_matter_lesions``  0.20   FLAIR-bright dots, no mass (low-grade glioma)
=====================  ========================  =====  ==========================================

Typical cases overlap too: glioblastoma sizes overlap large metastases, lymphoma can be
multifocal (like metastases), low-grade gliomas and meningiomas may both calcify,
and intensity ranges overlap between types (see :mod:`contrast`).

A lesion is a lobulated ellipsoid ``rho(p) = |E^-1 R^T (p - c)| / L(u) <= radius``, with
``L(u) = exp(sum_k a_k T_nk(u . v_k))`` (Chebyshev polynomials of random directions) for
irregular walls; necrosis and oedema have their own, more irregular, surfaces. Fractions
have a one-voxel linear ramp (partial volume); masks are taken where a compartment wins.
Centres are drawn in MNI space (LPS mm) from anatomical candidate sites and mapped into
the output space at render time, so parameters do not depend on the output spacing.
"""

from __future__ import annotations

import numpy as np

CLASSES: tuple[str, ...] = ("glioblastoma", "lower_grade_glioma", "metastasis", "meningioma", "lymphoma",
                            "no_tumor")
TUMOUR_CLASSES: tuple[str, ...] = CLASSES[:-1]

ATYPICAL_SHARES: dict[str, tuple[str, float]] = {
    "glioblastoma": ("no_necrosis", 0.15),
    "lower_grade_glioma": ("enhancing", 0.15),
    "metastasis": ("solitary_large", 0.15),
    "meningioma": ("non_calcified_isodense", 0.20),
    "lymphoma": ("ring_enhancing", 0.15),
    "no_tumor": ("white_matter_lesions", 0.20),
}

# Probabilities inside the typical cases (documented for the signature tests).
# About half of brain metastases are solitary at diagnosis; so are half of the phantoms'.
METASTASIS_COUNT_P = {1: 0.50, 2: 0.20, 3: 0.15, 4: 0.15}
CALCIFIED_P = {"lower_grade_glioma": 0.25, "meningioma": 0.70}
HAEMORRHAGE_P = {"glioblastoma": 0.10, "metastasis": 0.15}
LYMPHOMA_MULTIFOCAL_P = 0.20
# Glioblastomas are multifocal or carry a satellite nodule in the oedema in about one in six.
GLIOBLASTOMA_SATELLITE_P = 0.15
FALX_P = 0.25


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _lobes(rng: np.random.Generator, sigma: float, n: int = 6, max_order: int = 5) -> list:
    """Random wall irregularity: [vx, vy, vz, amplitude, order] per lobe."""
    v = _unit(rng, n)
    a = rng.normal(0.0, sigma, n)
    order = rng.integers(2, max_order + 1, n)
    return [[float(v[i, 0]), float(v[i, 1]), float(v[i, 2]), float(a[i]), int(order[i])] for i in range(n)]


def _pick(rng: np.random.Generator, sites: dict, name: str) -> np.ndarray:
    points = sites[name]
    return points[rng.integers(len(points))].astype(float)


def _lesion(rng, centre, radius, *, core="enhancing", necrosis_ratio=0.0, oedema_ratio=1.5, lobulation=0.08,
            elongation=0.15, oedema_lobulation=0.18, mass_effect=0.3) -> dict:
    axes = np.exp(rng.uniform(-elongation, elongation, 3))
    axes /= np.prod(axes) ** (1 / 3)  # keep the volume of a sphere of this radius
    return {
        "centre_mni": [float(c) for c in centre],
        "radius_mm": float(radius),
        "axes": [float(a) for a in axes],
        "rotation_rad": [float(a) for a in rng.uniform(-np.pi, np.pi, 3)],
        "lobes": _lobes(rng, lobulation),
        "core": core,
        "necrosis_ratio": float(necrosis_ratio),
        "necrosis_lobes": _lobes(rng, lobulation * 1.5),
        "oedema_ratio": float(oedema_ratio),
        # Low orders only: high-order lobes on a wide oedema drew star spikes with straight flanks.
        "oedema_lobes": _lobes(rng, oedema_lobulation, n=8, max_order=4),
        "mass_effect": float(mass_effect),
        "calcifications": [],   # [dx, dy, dz, r] in units of the lesion radius
        "haemorrhages": [],
        "enhancing_foci": [],
        "extra_axial": None,
    }


def _blobs(rng, n: int, r_range: tuple, max_offset: float) -> list:
    out = []
    for _ in range(n):
        d = _unit(rng, 1)[0] * rng.uniform(0, max_offset)
        out.append([float(d[0]), float(d[1]), float(d[2]), float(rng.uniform(*r_range))])
    return out


def draw_tumour(label: str, rng: np.random.Generator, sites: dict, normals: dict) -> dict:
    """Draw the tumour parameters of one case (JSON-serialisable).

    Returns ``{"atypical": name or None, "lesions": [...], "wmh": [...]}``.
    """
    variant, share = ATYPICAL_SHARES[label]
    atypical = variant if rng.random() < share else None
    lesions: list[dict] = []
    wmh: list = []
    if label == "glioblastoma":
        solid = atypical == "no_necrosis"
        radius = rng.uniform(10, 22) if solid else rng.uniform(12, 26)
        # Oedema radius ratio 1.15-1.6: an oedema-to-core volume ratio of about 0.5-3 once white
        # matter shapes it (nine real high-grade gliomas: median 1.6); the wall and the necrosis
        # irregular, the enhancing rim from thin to thick.
        les = _lesion(rng, _pick(rng, sites, "deep_white"), radius, core="enhancing",
                      necrosis_ratio=0.0 if solid else rng.uniform(0.4, 0.85),
                      oedema_ratio=rng.uniform(1.15, 1.6), lobulation=rng.uniform(0.1, 0.2), elongation=0.25,
                      oedema_lobulation=rng.uniform(0.2, 0.32), mass_effect=rng.uniform(0.25, 0.5))
        les["necrosis_lobes"] = _lobes(rng, rng.uniform(0.15, 0.3))
        if rng.random() < HAEMORRHAGE_P["glioblastoma"]:
            les["haemorrhages"] = _blobs(rng, 1, (0.15, 0.3), 0.5)
        lesions.append(les)
        if rng.random() < GLIOBLASTOMA_SATELLITE_P:
            # A small enhancing satellite in the white matter near the main mass (multifocal).
            main = np.array(les["centre_mni"])
            near = [p for p in sites["deep_white"] if radius + 8 < np.linalg.norm(p - main) < radius + 25]
            if near:
                centre = near[int(rng.integers(len(near)))].astype(float)
                lesions.append(_lesion(rng, centre, rng.uniform(4, 8), core="enhancing",
                                       oedema_ratio=rng.uniform(1.3, 1.8), lobulation=0.12, elongation=0.2,
                                       oedema_lobulation=0.25, mass_effect=0.1))
    elif label == "lower_grade_glioma":
        les = _lesion(rng, _pick(rng, sites, "cortical_white"), rng.uniform(12, 30), core="non_enhancing",
                      oedema_ratio=rng.uniform(1.0, 1.2), lobulation=0.1, elongation=0.25,
                      oedema_lobulation=0.1, mass_effect=rng.uniform(0.15, 0.3))
        if atypical == "enhancing":
            les["enhancing_foci"] = _blobs(rng, int(rng.integers(1, 3)), (0.15, 0.3), 0.5)
        if rng.random() < CALCIFIED_P["lower_grade_glioma"]:
            les["calcifications"] = _blobs(rng, int(rng.integers(1, 4)), (0.1, 0.2), 0.6)
        lesions.append(les)
    elif label == "metastasis":
        if atypical == "solitary_large":
            lesions.append(_lesion(rng, _pick(rng, sites, "junction"), rng.uniform(14, 24),
                                   necrosis_ratio=rng.uniform(0.4, 0.7), oedema_ratio=rng.uniform(1.25, 1.7),
                                   lobulation=0.06, elongation=0.1, mass_effect=rng.uniform(0.3, 0.45)))
        else:
            n = int(rng.choice(list(METASTASIS_COUNT_P), p=list(METASTASIS_COUNT_P.values())))
            tries = 0
            while len(lesions) < n and tries < 200:
                tries += 1
                radius = float(np.exp(rng.uniform(np.log(5.0), np.log(14.0))))
                centre = _pick(rng, sites, "junction")
                # Separate cores by a few mm so each lesion stays its own component.
                if any(np.linalg.norm(centre - np.array(o["centre_mni"])) < radius + o["radius_mm"] * 1.4 + 12
                       for o in lesions):
                    continue
                ring = radius > 8 and rng.random() < 0.7
                les = _lesion(rng, centre, radius, necrosis_ratio=rng.uniform(0.35, 0.6) if ring else 0.0,
                              oedema_ratio=rng.uniform(1.5, 2.4), lobulation=0.04, elongation=0.1,
                              oedema_lobulation=0.2, mass_effect=rng.uniform(0.15, 0.3))
                if rng.random() < HAEMORRHAGE_P["metastasis"]:
                    les["haemorrhages"] = _blobs(rng, 1, (0.3, 0.5), 0.3)
                lesions.append(les)
    elif label == "meningioma":
        site = "falx" if rng.random() < FALX_P else "surface"
        k = int(rng.integers(len(sites[site])))
        base = sites[site][k].astype(float)
        inward = normals[site][k].astype(float)
        if site == "falx":
            inward = inward * (1.0 if rng.random() < 0.5 else -1.0)
        radius = rng.uniform(10, 25)
        depth = rng.uniform(0.2, 0.55)
        les = _lesion(rng, base + inward * depth * radius, radius, oedema_ratio=rng.uniform(1.0, 1.4),
                      lobulation=0.05, elongation=0.1, oedema_lobulation=0.15, mass_effect=0.0)
        les["extra_axial"] = {"base_mni": [float(b) for b in base], "inward": [float(v) for v in inward],
                              "depth_ratio": float(depth), "cut_mm": 2.0, "site": site,
                              "tail_ratio": float(rng.uniform(0.25, 0.6)), "push_ratio": float(rng.uniform(0.4, 0.7))}
        if atypical is None and rng.random() < CALCIFIED_P["meningioma"]:
            if rng.random() < 0.5:
                les["calcifications"] = _blobs(rng, int(rng.integers(2, 6)), (0.1, 0.18), 0.55)
            else:
                les["calcifications"] = _blobs(rng, 1, (0.3, 0.5), 0.1)
        lesions.append(les)
    elif label == "lymphoma":
        n = 2 if rng.random() < LYMPHOMA_MULTIFOCAL_P else 1
        for i in range(n):
            radius = rng.uniform(10, 22) if i == 0 else rng.uniform(6, 12)
            centre = _pick(rng, sites, "periventricular")
            if lesions and np.linalg.norm(centre - np.array(lesions[0]["centre_mni"])) < radius + 35:
                continue
            ring = atypical == "ring_enhancing" and i == 0
            lesions.append(_lesion(rng, centre, radius, necrosis_ratio=rng.uniform(0.3, 0.5) if ring else 0.0,
                                   oedema_ratio=rng.uniform(1.2, 1.6), lobulation=0.1, elongation=0.15,
                                   oedema_lobulation=0.18, mass_effect=rng.uniform(0.2, 0.35)))
    elif label == "no_tumor":
        if atypical == "white_matter_lesions":
            for _ in range(int(rng.integers(3, 11))):
                c = _pick(rng, sites, "periventricular") if rng.random() < 0.6 else _pick(rng, sites, "deep_white")
                wmh.append([float(c[0]), float(c[1]), float(c[2]), float(rng.uniform(2.5, 5.0))])
    else:
        from ..errors import InputError

        raise InputError(f"Unknown phantom label {label!r}; use one of {', '.join(CLASSES)}.")
    return {"atypical": atypical, "lesions": lesions, "wmh": wmh}


def nominal_core_volume_ml(tumour: dict, scale: float = 1.0) -> float:
    """Analytic volume (mL) of the tumour cores (enhancing + necrosis + non-enhancing).

    Uses the mean of ``L(u)^3`` over 512 fixed directions; the flat dural cut of a
    meningioma is accounted for as a spherical cap.
    """
    u = _fibonacci_sphere(512)
    total = 0.0
    for les in tumour["lesions"]:
        lob = np.exp(_lobulation_sum(u, les["lobes"]))
        vol = 4.0 / 3.0 * np.pi * (les["radius_mm"] * scale) ** 3 * float(np.mean(lob**3))
        if les["extra_axial"]:
            # Cap removed beyond the dural plane: height h = R - (depth R + cut).
            r = les["radius_mm"] * scale
            h = max(r - (les["extra_axial"]["depth_ratio"] * r + les["extra_axial"]["cut_mm"]), 0.0)
            vol -= np.pi * h * h * (3 * r - h) / 3.0
        total += vol
    return total / 1000.0


def _max_lobulation(lobes: list) -> float:
    """The largest wall factor exp(L(u)) over all directions (2,048 of them, plus 5 %)."""
    return float(np.exp(np.max(_lobulation_sum(_fibonacci_sphere(2048), lobes)))) * 1.05


def _block_reach(les: dict, radius: float, voxel_mm: float) -> float:
    """Half the side (mm) of the block a lesion is drawn in. It must hold the whole oedema, its
    most lobulated direction, its longest axis and its 4 mm fade included: a block that cut it
    drew straight edges in the image (a larger block changes no voxel; tested)."""
    reach = (radius * max(les["oedema_ratio"], 1.0) * _max_lobulation(les["oedema_lobes"]) * max(les["axes"])
             + max(voxel_mm, 4.0) + 2 * voxel_mm)
    if les["extra_axial"]:
        reach = max(reach, radius * (1.0 + 2 * les["extra_axial"]["tail_ratio"]) + 2 * voxel_mm)
    return reach


def _fibonacci_sphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


def _chebyshev(order: int, c):
    if order == 2:
        return 2 * c * c - 1
    if order == 3:
        return c * (4 * c * c - 3)
    if order == 4:
        c2 = c * c
        return 8 * c2 * (c2 - 1) + 1
    if order == 5:
        c2 = c * c
        return c * (16 * c2 * c2 - 20 * c2 + 5)
    c2 = c * c
    return 32 * c2 * c2 * c2 - 48 * c2 * c2 + 18 * c2 - 1  # order 6


def _lobulation_sum(u, lobes: list):
    """sum_k a_k T_nk(u . v_k) for unit directions ``u`` (..., 3) or a tuple of 3 arrays."""
    if isinstance(u, tuple):
        ux, uy, uz = u
    else:
        ux, uy, uz = u[..., 0], u[..., 1], u[..., 2]
    out = 0.0
    for vx, vy, vz, a, order in lobes:
        out = out + np.float32(a) * _chebyshev(int(order), ux * np.float32(vx) + uy * np.float32(vy)
                                               + uz * np.float32(vz))
    return out


def _rotation(angles) -> np.ndarray:
    ax, ay, az = angles
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    return (np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]) @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
            @ np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]]))


def _ramp(distance_inside, voxel_mm: float):
    """Partial-volume fraction from a signed distance (mm, > 0 inside) with a one-voxel ramp."""
    return np.clip(distance_inside * np.float32(1.0 / voxel_mm) + np.float32(0.5), 0.0, 1.0)


def _visit_radius(les: dict, scale: float, cavity: dict | None) -> float:
    """Outer radius (mm) of a lesion at a visit: its tumour tissue scaled by ``scale`` and,
    after surgery, wrapped around the resection cavity (shell volume = tissue volume)."""
    radius = les["radius_mm"] * scale
    if cavity:
        radius = float((radius**3 + cavity["radius_mm"] ** 3) ** (1.0 / 3.0))
    return radius


def render_tumour(tumour: dict, centres_out: list, directions_out: list, axes_xyz: tuple, voxel_mm: float,
                  scale: float = 1.0, cavities: list | None = None, oedema_factor: float = 1.0) -> dict:
    """Draw the compartments of all lesions on the output grid.

    ``centres_out``: each lesion's centre in output space (LPS mm); ``directions_out``: the
    inward dural normal in output space for extra-axial lesions (else None); ``axes_xyz``:
    physical coordinates of the grid along x, y, z; ``scale``: multiplies every radius
    (longitudinal growth); ``cavities``: per lesion None or a resection cavity
    ``{"radius_mm", "lobes"}`` (fluid where tumour was; the remaining tumour is the shell
    around it); ``oedema_factor`` shrinks the oedema (steroids, antiangiogenic therapy).
    Returns float32 fraction maps (z, y, x) over ``region``, the union of the lesions'
    bounding blocks (a tuple of slices of the grid, None when nothing was drawn):
    ``core, necrosis, enhancing, oedema_shape, calcification, haemorrhage, cavity``
    (core = necrosis + enhancing + non-enhancing; the cavity is outside the core).
    """
    cavities = cavities or [None] * len(tumour["lesions"])
    x, y, z = axes_xyz
    blocks = []
    for les, c, cavity in zip(tumour["lesions"], centres_out, cavities):
        reach = _block_reach(les, _visit_radius(les, scale, cavity), voxel_mm)
        sl = tuple(slice(int(np.searchsorted(a, cc - reach)), int(np.searchsorted(a, cc + reach)))
                   for a, cc in zip((z, y, x), (c[2], c[1], c[0])))
        blocks.append(None if any(s.stop <= s.start for s in sl) else sl)
    drawn = [b for b in blocks if b is not None]
    if not drawn:
        return {}, None
    region = tuple(slice(min(b[i].start for b in drawn), max(b[i].stop for b in drawn)) for i in range(3))
    shape = tuple(r.stop - r.start for r in region)
    out = {k: np.zeros(shape, np.float32) for k in ("core", "necrosis", "enhancing", "oedema_shape",
                                                    "calcification", "haemorrhage", "cavity")}
    for les, c, inward, sl_abs, cavity in zip(tumour["lesions"], centres_out, directions_out, blocks, cavities):
        if sl_abs is None:
            continue
        radius = _visit_radius(les, scale, cavity)
        sl = sl_abs  # coordinates come from the absolute block, arrays from the region-relative one
        rel = tuple(slice(a.start - r.start, a.stop - r.start) for a, r in zip(sl_abs, region))
        dz = (z[sl[0]] - np.float32(c[2]))[:, None, None]
        dy = (y[sl[1]] - np.float32(c[1]))[None, :, None]
        dx = (x[sl[2]] - np.float32(c[0]))[None, None, :]
        r = np.sqrt(dx * dx + dy * dy + dz * dz) + np.float32(1e-3)
        u = (dx / r, dy / r, dz / r)
        # Ellipsoid radius: rotate into the lesion frame and divide by the axes.
        rot = _rotation(les["rotation_rad"]).astype(np.float32)
        inv_axes = 1.0 / np.asarray(les["axes"], np.float32)
        qq = 0.0
        for k in range(3):
            q = (dx * rot[0, k] + dy * rot[1, k] + dz * rot[2, k]) * inv_axes[k]
            qq = qq + q * q
        r_ell = np.sqrt(qq)
        core = _ramp(radius * np.exp(_lobulation_sum(u, les["lobes"])) - r_ell, voxel_mm)
        # Oedema fades out over about 4 mm (it has no sharp wall); the 0.5 level stays put.
        oedema_ratio = max(les["oedema_ratio"] * oedema_factor, 1.0)
        oedema = _ramp(radius * oedema_ratio * np.exp(_lobulation_sum(u, les["oedema_lobes"])) - r_ell,
                       max(voxel_mm, 4.0))
        necrosis = None
        if les["necrosis_ratio"] > 0:
            necrosis = _ramp(radius * les["necrosis_ratio"] * np.exp(_lobulation_sum(u, les["necrosis_lobes"]))
                             - r_ell, voxel_mm)
        if les["extra_axial"]:
            ex = les["extra_axial"]
            n = np.asarray(inward, np.float32)
            # Signed height above the dural plane along the inward normal (the plane holds the base).
            depth = ex["depth_ratio"] * radius
            h = dx * n[0] + dy * n[1] + dz * n[2] + np.float32(depth)
            core = np.minimum(core, _ramp(h + np.float32(ex["cut_mm"]), voxel_mm))
            # Dural tail: a thin enhancing plate along the dura, tapering away from the base.
            base_r = np.sqrt(max(radius**2 - depth**2, 1.0))
            lateral = np.sqrt(np.maximum(r * r - (h - np.float32(depth)) ** 2, 0.0))
            tail_len = ex["tail_ratio"] * radius
            half = np.float32(max(1.5, 0.5 * voxel_mm))
            taper = np.clip(1.0 - (lateral - np.float32(base_r)) / np.float32(tail_len), 0.0, 1.0)
            tail = _ramp(half * taper - np.abs(h + np.float32(ex["cut_mm"]) - half), voxel_mm)
            tail = np.where(lateral < base_r + tail_len, tail, np.float32(0.0))
            core = np.maximum(core, tail)
        hole = None
        if cavity:
            # Resection cavity: fluid where the resected tumour was, inside the lesion's envelope.
            hole = np.minimum(_ramp(np.float32(cavity["radius_mm"]) * np.exp(_lobulation_sum(u, cavity["lobes"]))
                                    - r_ell, voxel_mm), core)
            core = core - hole
        enhancing = core if les["core"] == "enhancing" else None
        if les["core"] != "enhancing" and les["enhancing_foci"]:
            enhancing = 0.0
            for bx, by, bz, br in les["enhancing_foci"]:
                f = _ramp(np.float32(br * radius) - np.sqrt((dx - bx * radius) ** 2 + (dy - by * radius) ** 2
                                                             + (dz - bz * radius) ** 2), voxel_mm)
                enhancing = np.maximum(enhancing, f)
            enhancing = np.minimum(enhancing, core)
        if necrosis is not None:
            necrosis = np.minimum(necrosis, core)
            if enhancing is not None:
                enhancing = np.clip(enhancing - necrosis, 0.0, 1.0)
        for name, blobs, value in (("calcification", les["calcifications"], None),
                                   ("haemorrhage", les["haemorrhages"], None)):
            for bx, by, bz, br in blobs:
                rb = max(br * radius, 3.0 if name == "calcification" else 2.0)
                f = _ramp(np.float32(rb) - np.sqrt((dx - bx * radius) ** 2 + (dy - by * radius) ** 2
                                                    + (dz - bz * radius) ** 2), voxel_mm)
                block = out[name][rel]
                np.maximum(block, np.minimum(f, core), out=block)
        for name, f in (("core", core), ("oedema_shape", oedema), ("necrosis", necrosis), ("enhancing", enhancing),
                        ("cavity", hole)):
            if f is None or np.isscalar(f):
                continue
            block = out[name][rel]
            np.maximum(block, f, out=block)
    return out, region


def render_wmh(points_out: list, axes_xyz: tuple, voxel_mm: float) -> np.ndarray | None:
    """Small round white-matter hyperintensities (fractions, z y x) at output points (x, y, z, r)."""
    if not points_out:
        return None
    x, y, z = axes_xyz
    out = np.zeros((len(z), len(y), len(x)), np.float32)
    for cx, cy, cz, radius in points_out:
        reach = radius + 2 * voxel_mm
        sl = tuple(slice(int(np.searchsorted(a, cc - reach)), int(np.searchsorted(a, cc + reach)))
                   for a, cc in zip((z, y, x), (cz, cy, cx)))
        d = np.sqrt((z[sl[0]] - cz)[:, None, None] ** 2 + (y[sl[1]] - cy)[None, :, None] ** 2
                    + (x[sl[2]] - cx)[None, None, :] ** 2)
        block = out[sl]
        np.maximum(block, _ramp(np.float32(radius) - d, voxel_mm), out=block)
    return out
