"""One synthetic case: six co-registered modalities, tumour masks, label and parameters.

Images live in physical LPS space (identity direction, spacing as asked) around a
deformed MNI152 brain. They are skull-stripped like BraTS: MRI and PET are 0 outside
the brain mask; CT keeps the brain only too, with air (``CT_BACKGROUND_HU`` = -1000 HU)
outside it. MRI is float32 in arbitrary scanner units (per-case gain), CT in HU,
PET in SUV.

Everything is drawn from ``numpy.random.SeedSequence(seed)``: parameters from one child
stream, noise of each modality from its own child, so the same seed gives the same
bytes, and asking for a subset of modalities gives the same images for those.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.ndimage as ndi
import SimpleITK as sitk

from ..errors import InputError
from ..modalities import MODALITIES, MRI_MODALITIES
from . import anatomy, head
from .contrast import HEALTHY_TEXTURE, HEALTHY_TEXTURE_CELL_MM, TEXTURE, draw_acquisition, draw_contrast
from .treatment import radiation_change, treated_contrast
from .tumours import CLASSES, draw_tumour, nominal_core_volume_ml, render_tumour, render_wmh

CT_BACKGROUND_HU = -1000.0
MASK_NAMES: tuple[str, ...] = ("necrosis", "enhancing", "non_enhancing", "oedema", "brain", "calcification", "cavity",
                               "seg")
# BraTS 2023 labels of the combined ``seg`` map.
SEG_LABELS = {"necrosis": 1, "non_enhancing": 1, "oedema": 2, "enhancing": 3}
_CELL_MM = 6.0  # spacing of the coarse displacement grid


@dataclass
class SyntheticCase:
    """A generated case.

    ``images``: modality -> SimpleITK.Image (float32, LPS). ``masks``: name -> uint8
    SimpleITK.Image on the same grid (``necrosis, enhancing, non_enhancing, oedema, brain,
    calcification, cavity`` as 0/1 and ``seg`` with BraTS labels 1 = NCR (necrosis and
    non-enhancing core), 2 = oedema, 3 = enhancing; a resection cavity is not tumour).
    ``params``: everything drawn (JSON-serialisable). ``label``: one of ``CLASSES``.
    """

    images: dict
    masks: dict
    label: str
    params: dict
    seed: int = 0
    spacing: tuple = field(default=(2.0, 2.0, 2.0))

    @property
    def atypical(self):
        return self.params["tumour"]["atypical"]


def sample_case_params(label: str | None = None, seed: int = 0) -> dict:
    """Draw every parameter of a case without rendering it (fast; used by tests and cohorts)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    if label is None:
        label = CLASSES[int(rng.integers(len(CLASSES)))]
    if label not in CLASSES:
        raise InputError(f"Unknown phantom label {label!r}; use one of {', '.join(CLASSES)}.")
    sites, normals = anatomy.lesion_sites()
    params = {
        "label": label,
        "affine": anatomy.random_affine(rng),
        "elastic_mm": float(rng.uniform(1.0, 3.0)),
        "elastic_seed": int(rng.integers(2**31 - 1)),
        "tumour": draw_tumour(label, rng, sites, normals),
    }
    # The atypical variant is drawn with the geometry; some variants change the contrast.
    params["contrast"] = draw_contrast(label, params["tumour"]["atypical"], rng)
    params["acquisition"] = draw_acquisition(rng)
    params["atypical"] = params["tumour"]["atypical"]
    params["core_volume_ml"] = nominal_core_volume_ml(params["tumour"])
    return params


def generate_case(label: str | None = None, seed: int = 0, modalities=MODALITIES, spacing=2.0, *,
                  tumour_scale: float = 1.0, noise_seed: int | None = None, params: dict | None = None,
                  treatment: dict | None = None, atrophy: dict | None = None, head_mm: float = 0.0
                  ) -> SyntheticCase:
    """Generate one phantom case.

    label: one of ``CLASSES`` or None (drawn from the seed). modalities: any non-empty
    subset of ``MODALITIES``. spacing: output voxel size in mm (float or x, y, z).
    tumour_scale: multiplies every lesion radius (longitudinal visits). noise_seed: seed
    of the noise only (defaults to ``seed``); params: reuse parameters from
    :func:`sample_case_params` (then ``label`` and ``seed`` only name the case).
    treatment: post-treatment appearance of a follow-up visit
    (:func:`~braintumorai.synthetic.treatment.visit_appearance`). atrophy:
    ``{"ventricles": k, "cortical": a}`` in [0, 1): ventricles widened by pushing tissue away
    from them (k), grey matter thinned next to CSF (a), as with age. head_mm: 0 gives the
    skull-stripped phantom; more keeps the head (:mod:`~braintumorai.synthetic.head`) up to
    that distance from the brain (``head.FULL_HEAD_MM`` for the whole head, air beyond);
    the ``brain`` mask stays the brain. The defaults give the plain phantom, byte for byte.
    """
    modalities = tuple(modalities)
    unknown = [m for m in modalities if m not in MODALITIES]
    if not modalities or unknown:
        raise InputError(f"Modalities {unknown or '()'} are not valid; choose a non-empty subset of "
                         f"{', '.join(MODALITIES)}.")
    spacing = tuple(float(s) for s in np.broadcast_to(np.asarray(spacing, float), (3,)))
    if min(spacing) <= 0.2 or max(spacing) > 8.0:
        raise InputError(f"Spacing {spacing} mm is out of range; use 0.5 to 8 mm.")
    if params is None:
        params = sample_case_params(label, seed)
    label = params["label"]
    noise_children = np.random.SeedSequence(seed if noise_seed is None else noise_seed).spawn(1 + len(MODALITIES))[1:]

    # Geometry: affine, output grid, coarse displacement field (elastic + mass effect).
    maps = anatomy.mni_maps(2 if min(spacing) >= 2.0 else 1)
    m, t = anatomy.affine_matrix(params["affine"])
    f_origin, f_size = _coarse_grid(maps, m, t)
    elastic = anatomy.elastic_field(np.random.default_rng(params["elastic_seed"]), f_size, _CELL_MM,
                                    params["elastic_mm"])
    tumour = params["tumour"]
    m_inv = np.linalg.inv(m)
    centres, inwards = [], []
    for les in tumour["lesions"]:
        c = m_inv @ (np.asarray(les["centre_mni"]) - t)
        c = c - _sample_field(elastic, f_origin, c)  # so that the tissue drawn at c is the chosen site
        centres.append(c)
        if les["extra_axial"]:
            n = m.T @ np.asarray(les["extra_axial"]["inward"])
            inwards.append(n / np.linalg.norm(n))
        else:
            inwards.append(None)
    field_ = elastic + _mass_effect(tumour, centres, inwards, f_origin, f_size, tumour_scale)
    if atrophy and atrophy.get("ventricles", 0.0) > 0:
        for c in anatomy.ventricle_centres():
            c_out = m_inv @ (c - t)
            field_ += _radial_push(_coarse_points(f_origin, f_size), c_out - _sample_field(elastic, f_origin, c_out),
                                   atrophy["ventricles"], 14.0)
    # The brain surface of the atlas lands where p + d(p) = A^-1(q): solve by fixed-point steps,
    # then fit the grid tightly around it.
    hull = (maps.hull_lps - t) @ m_inv.T
    p = hull.copy()
    for _ in range(3):
        p = hull - _sample_field(field_, f_origin, p)
    margin = 1.0 + 1.5 * max(spacing) + float(head_mm)
    grid = anatomy.output_grid(p, spacing, margin_mm=margin)
    gm, wm, brain = anatomy.resample_maps(maps, grid, m, t, field_, f_origin, _CELL_MM)
    if _touches_border(brain):
        # A strong mass effect pushed the brain past the tight grid: redo with room to spare.
        grid = anatomy.output_grid(p, spacing, margin_mm=margin + 15.0)
        gm, wm, brain = anatomy.resample_maps(maps, grid, m, t, field_, f_origin, _CELL_MM)
    if atrophy and atrophy.get("cortical", 0.0) > 0:
        # Sulci widen: grey matter next to CSF gives way to CSF.
        near_csf = ndi.gaussian_filter(np.clip(brain - gm - wm, 0.0, 1.0), [1.5 / s for s in spacing[::-1]])
        gm *= 1.0 - np.float32(atrophy["cortical"]) * np.clip(2.0 * near_csf, 0.0, 1.0)

    # Tumour compartments (fractions on the output grid).
    axes = grid.axes_mm()
    voxel = float(np.mean(spacing))
    cavities = [None] * len(tumour["lesions"])
    if treatment and treatment.get("cavity") and treatment["cavity"]["lesion"] < len(cavities):
        cavities[treatment["cavity"]["lesion"]] = treatment["cavity"]
    comp, region = render_tumour(tumour, centres, inwards, axes, voxel, tumour_scale, cavities=cavities,
                                 oedema_factor=treatment["oedema_factor"] if treatment else 1.0)
    wmh_points = []
    for cx, cy, cz, r in tumour["wmh"]:
        p = m_inv @ (np.asarray([cx, cy, cz]) - t)
        p = p - _sample_field(elastic, f_origin, p)
        wmh_points.append((float(p[0]), float(p[1]), float(p[2]), r))
    wmh = render_wmh(wmh_points, axes, voxel)
    if treatment and treatment.get("radiation") and treatment["radiation"]["strength"] > 0:
        wmh = radiation_change(wmh, axes, centres[treatment["radiation"]["lesion"]], treatment["radiation"])

    anat, tum, total = _fractions(gm, wm, brain, comp, region, wmh)
    texture = _texture(np.random.default_rng(params["elastic_seed"] + 2), region, spacing)
    healthy_texture = _texture(np.random.default_rng(params["elastic_seed"] + 3),
                               tuple(slice(0, n) for n in brain.shape), spacing, HEALTHY_TEXTURE_CELL_MM)
    brain_mask = total >= 0.5
    masks = _masks(tum, region, brain_mask)

    layers = None
    if head_mm > 0:
        head_params = head.draw_head(np.random.default_rng(np.random.SeedSequence([seed, 17])))
        layers = head.layer_fractions(brain_mask, np.clip(1.0 - total, 0.0, 1.0), spacing[::-1], head_params)
        params = dict(params, head=head_params)
    if treatment or atrophy:
        params = dict(params, treatment=treatment, atrophy=atrophy)

    images = {}
    acq = params["acquisition"]
    contrast = treated_contrast(params["contrast"], treatment) if treatment else params["contrast"]
    bias_rng = np.random.default_rng(params["elastic_seed"] + 1)
    log_bias = anatomy.bias_profiles(bias_rng, grid, acq["bias_strength"])
    bias_power = {mod: float(s) for mod, s in zip(MRI_MODALITIES, bias_rng.uniform(0.5, 1.0, 4))}
    for mod in MODALITIES:
        if mod not in modalities:
            continue
        rng = np.random.default_rng(noise_children[MODALITIES.index(mod)])
        clean = _compose(anat, tum, contrast[mod], region, texture, 0.4 if mod == "CT" else 1.0,
                         healthy_texture if mod in MRI_MODALITIES else None)
        if layers is not None:
            clean += head.head_image(layers, head_params, mod, contrast[mod]["csf"])
        if mod in MRI_MODALITIES:
            # Same receive coil for all sequences, a different strength per sequence.
            for axis, profile in enumerate(log_bias):
                shape = [1, 1, 1]
                shape[axis] = -1
                clean *= np.exp(profile * bias_power[mod]).astype(np.float32).reshape(shape)
            if acq["slice_blur_mm"] > 0:
                clean = ndi.gaussian_filter1d(clean, acq["slice_blur_mm"] / spacing[2], axis=0, truncate=2.5)
            clean += rng.standard_normal(clean.shape, dtype=np.float32) * np.float32(acq["mri_noise"][mod])
            np.maximum(clean, 0.0, out=clean)
            clean *= np.float32(acq["gain"][mod])
            if layers is None:
                clean[~brain_mask] = 0.0
        elif mod == "CT":
            if layers is None:  # partial-volume edge filled with CSF (the skull-stripped brain only)
                clean += np.clip(1.0 - total, 0.0, 1.0) * np.float32(contrast["CT"]["csf"])
            clean += rng.standard_normal(clean.shape, dtype=np.float32) * np.float32(acq["ct_noise_hu"])
            if layers is None:
                clean[~brain_mask] = CT_BACKGROUND_HU
        else:  # PET: count noise that grows with the signal, then the scanner's resolution
            # Count noise before reconstruction smoothing, so it comes out spatially correlated.
            clean *= 1.0 + rng.standard_normal(clean.shape, dtype=np.float32) * np.float32(3 * acq["pet_noise"])
            sigma = [acq["pet_fwhm_mm"] / 2.3548 / s for s in spacing[::-1]]
            clean = ndi.gaussian_filter(clean, sigma, truncate=2.0)
            np.maximum(clean, 0.0, out=clean)
            if layers is None:
                clean[~brain_mask] = 0.0
        images[mod] = _to_sitk(clean.astype(np.float32, copy=False), grid)
    sitk_masks = {name: _to_sitk(a, grid) for name, a in masks.items()}
    return SyntheticCase(images=images, masks=sitk_masks, label=label, params=params, seed=seed, spacing=spacing)


# --------------------------------------------------------------------------- helpers


def _coarse_grid(maps, m, t):
    """Coarse displacement grid from the affine only, so the field is the same at any spacing."""
    lo, hi = np.array(maps.bbox_lps[0]), np.array(maps.bbox_lps[1])
    corners = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    out = (corners - t) @ np.linalg.inv(m).T
    origin = np.floor(out.min(axis=0) / _CELL_MM) * _CELL_MM - 3 * _CELL_MM
    size = tuple(int(s) for s in np.ceil((out.max(axis=0) - origin) / _CELL_MM).astype(int) + 4)
    return origin, size


def _touches_border(brain: np.ndarray) -> bool:
    faces = (brain[0], brain[-1], brain[:, 0], brain[:, -1], brain[:, :, 0], brain[:, :, -1])
    return any(float(f.max()) >= 0.25 for f in faces)


def _sample_field(field_zyx3: np.ndarray, origin: np.ndarray, points) -> np.ndarray:
    """Trilinear displacement (mm) at points (3,) or (N, 3) in LPS mm."""
    pts = np.atleast_2d(np.asarray(points, float))
    idx = ((pts - origin) / _CELL_MM)[:, ::-1].T
    d = np.stack([ndi.map_coordinates(field_zyx3[..., k], idx, order=1, mode="nearest") for k in range(3)], axis=1)
    return d[0] if np.ndim(points) == 1 else d


def _mass_effect(tumour, centres, inwards, origin, size, scale) -> np.ndarray:
    """Displacement (z, y, x, 3) that pushes tissue away from each lesion.

    The transform samples the atlas at ``p + d(p)``: pointing ``d`` towards the centre makes
    tissue appear further out. The radial map r -> r (1 - k exp(-r^2 / 2 s^2)) stays
    invertible for k < 1.
    """
    pts = _coarse_points(origin, size)
    d = np.zeros(pts.shape, np.float64)
    for les, c, inward in zip(tumour["lesions"], centres, inwards):
        radius = les["radius_mm"] * scale
        v = pts - np.asarray(c)
        sigma = 1.2 * radius
        g = np.exp(-np.sum(v * v, axis=-1) / (2 * sigma * sigma))[..., None]
        if inward is not None:
            push = les["extra_axial"]["push_ratio"] * radius * 0.7
            d -= np.asarray(inward) * push * g
        elif les["mass_effect"] > 0:
            d -= v * min(les["mass_effect"], 0.8) * g
    return d


def _coarse_points(origin, size) -> np.ndarray:
    """LPS points (z, y, x, 3; x y z order) of the coarse displacement grid."""
    zz, yy, xx = (origin[i] + _CELL_MM * np.arange(size[i]) for i in (2, 1, 0))
    return np.stack(np.meshgrid(xx, yy, zz, indexing="ij"), axis=-1).transpose(2, 1, 0, 3)


def _radial_push(pts, centre, strength: float, sigma: float) -> np.ndarray:
    """Displacement (z, y, x, 3) that widens the space around ``centre`` (mm) by pushing
    tissue outwards: the ventricles of an atrophic brain. Invertible for strength < 1."""
    v = pts - np.asarray(centre)
    g = np.exp(-np.sum(v * v, axis=-1) / (2 * sigma * sigma))[..., None]
    return -v * min(float(strength), 0.8) * g


def _fractions(gm, wm, brain, comp, region, wmh):
    """Volume fractions (float32, z y x) of every compartment, and their total.

    Returns ``(anat, tum, total)``: ``anat`` full-grid ``csf, gm, wm`` (and ``wmh``),
    ``tum`` the tumour compartments over ``region`` only (empty without a tumour).
    """
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    anat = {"csf": csf, "gm": gm, "wm": wm}
    tum = {}
    if wmh is not None:
        anat["wmh"] = wmh * wm
        anat["wm"] = wm - anat["wmh"]
    if region is not None:
        sl = region
        core = comp["core"]
        keep = 1.0 - core - comp["cavity"]
        g, w = gm[sl], wm[sl]
        nc = g + w
        # Oedema spreads along white matter and spares cortex and CSF spaces.
        e_rel = comp["oedema_shape"] * np.clip(0.2 + 1.2 * w / (nc + 1e-6), 0.0, 1.0) * keep
        tum["oedema"] = nc * e_rel
        for name in ("gm", "wm", "wmh"):
            if name in anat:
                anat[name][sl] *= keep * (1 - e_rel)
        csf[sl] *= keep
        nec = comp["necrosis"]
        enh = np.minimum(comp["enhancing"], core - nec)
        nen = np.clip(core - nec - enh, 0.0, 1.0)
        calc = np.minimum(comp["calcification"], core)
        haem = np.minimum(comp["haemorrhage"], core - calc)
        q = 1.0 - (calc + haem) / np.maximum(core, 1e-6)
        tum.update(necrosis=nec * q, enhancing=enh * q, non_enhancing=nen * q, calcification=calc,
                   haemorrhage=haem)
        if comp["cavity"].any():
            tum["cavity"] = comp["cavity"]
    total = sum(anat.values())
    if region is not None:
        total[region] += tum["oedema"] + comp["core"] + comp["cavity"]
    return anat, tum, total


def _masks(tum, region, brain_mask):
    """Mutually exclusive uint8 masks: each tumour voxel goes to its largest compartment."""
    shape = brain_mask.shape
    out = {name: np.zeros(shape, np.uint8) for name in ("necrosis", "enhancing", "non_enhancing", "oedema",
                                                         "calcification", "cavity", "seg")}
    if region is not None:
        nen = tum["non_enhancing"] + tum["calcification"] + tum["haemorrhage"]
        core_parts = np.stack([tum["necrosis"], tum["enhancing"], nen])
        core = core_parts.sum(axis=0)
        inside = brain_mask[region]
        tumour = (core + tum["oedema"] >= 0.5) & inside
        winner = np.where(core >= tum["oedema"], np.argmax(core_parts, axis=0), 3)
        seg = out["seg"][region]
        for k, name in enumerate(("necrosis", "enhancing", "non_enhancing", "oedema")):
            hit = tumour & (winner == k)
            out[name][region] = hit
            seg[hit] = SEG_LABELS[name]
        out["calcification"][region] = (tum["calcification"] >= 0.5) & inside
        if "cavity" in tum:
            out["cavity"][region] = (tum["cavity"] >= 0.5) & ~tumour & inside
    out["brain"] = brain_mask.astype(np.uint8)
    return out


def _compose(anat, tum, values, region, texture=None, texture_gain=1.0, healthy_texture=None):
    """Sum of fraction x intensity; tumour compartments only inside their region.

    ``texture`` (region-sized, unit RMS) modulates each tumour compartment by
    ``1 + TEXTURE[c] * texture_gain * texture``; ``healthy_texture`` (full grid, unit RMS)
    modulates grey and white matter by ``1 + HEALTHY_TEXTURE[t] * healthy_texture``.
    """
    image = anat["csf"] * np.float32(values["csf"])
    for tissue in ("gm", "wm"):
        if healthy_texture is not None:
            image += anat[tissue] * (np.float32(values[tissue])
                                     * (1.0 + np.float32(HEALTHY_TEXTURE[tissue]) * healthy_texture))
        else:
            image += anat[tissue] * np.float32(values[tissue])
    if "wmh" in anat:
        image += anat["wmh"] * np.float32(values["wmh"])
    if region is not None:
        block = image[region]
        for name, f in tum.items():
            amp = TEXTURE.get(name, 0.0) * texture_gain
            if texture is not None and amp > 0:
                block += f * (np.float32(values[name]) * (1.0 + np.float32(amp) * texture))
            else:
                block += f * np.float32(values[name])
    return image


def _texture(rng: np.random.Generator, region, spacing, cell_mm: float = 5.0):
    """Smooth random field (unit RMS) over the tumour region: coarse noise, trilinear zoom."""
    if region is None:
        return None
    shape = tuple(r.stop - r.start for r in region)
    coarse_shape = tuple(int(np.ceil(n * s / cell_mm)) + 2 for n, s in zip(shape, spacing[::-1]))
    coarse = rng.standard_normal(coarse_shape).astype(np.float32)
    field = ndi.zoom(coarse, [n / c for n, c in zip(shape, coarse_shape)], order=1, grid_mode=True, mode="nearest")
    field = field[: shape[0], : shape[1], : shape[2]]
    return field / (field.std() + 1e-6)


def _to_sitk(array: np.ndarray, grid) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetOrigin(grid.origin)
    image.SetSpacing(grid.spacing)
    return image
