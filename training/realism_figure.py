"""The realism report's figure: six panels, phantoms by class against the real studies.

(a) oedema against core volume (mL, log axes) with the published BraTS high-grade glioma
anchor; (b) oedema / core ratio per class; (c) healthy-tissue texture (gradient energy
against local variance of the FLAIR, else T1, z-scores); (d) FLAIR histograms of healthy
tissue and oedema (phantoms pooled against each real study); (e) the encoder's pooled
features in the phantoms' first two principal components; (f) lesion centre to brain
surface. Only summary numbers of real studies are drawn: no real image.
"""

from __future__ import annotations

import os

import numpy as np

COLOURS = {"glioblastoma": "tab:red", "lower_grade_glioma": "tab:orange", "metastasis": "tab:purple",
           "meningioma": "tab:green", "lymphoma": "tab:blue", "no_tumor": "tab:gray"}


def _texture(row):
    for m in ("FLAIR", "T1", "T1C", "T2"):
        if m in row["texture"]:
            return row["texture"][m]["gradient_energy"], row["texture"][m]["local_variance"]
    return None


def draw(rows, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phantoms = [r for r in rows if r["source"] == "phantom"]
    real = [r for r in rows if r["source"] == "real"]
    fig, ax = plt.subplots(2, 3, figsize=(15, 9))
    a = ax[0, 0]
    for r in phantoms:
        les = r["lesions"]
        if les["core_ml"] > 0.1:
            a.scatter(les["core_ml"], max(les["oedema_ml"], 0.1), c=COLOURS[r["label"]], s=18, alpha=0.7)
    for r in real:
        les = r["lesions"]
        if les["core_ml"] > 0.1:
            a.scatter(les["core_ml"], max(les["oedema_ml"], 0.1), marker="*", c="k", s=160)
            a.annotate(r["name"], (les["core_ml"], max(les["oedema_ml"], 0.1)), fontsize=7)
    a.axhline(51, ls=":", c="k", lw=1)
    a.text(0.12, 56, "real HGG oedema median 51 mL", fontsize=7)
    a.set(xscale="log", yscale="log", xlabel="core mL", ylabel="oedema mL", title="(a) oedema against core")
    a = ax[0, 1]
    labels = [k for k in COLOURS if k != "no_tumor"]
    data = [[r["lesions"]["ratio"] for r in phantoms if r["label"] == k and r["lesions"]["ratio"] is not None]
            for k in labels]
    a.boxplot([d if d else [np.nan] for d in data], positions=range(1, len(labels) + 1))
    a.set_xticks(range(1, len(labels) + 1), [k.replace("_", "\n") for k in labels])
    a.axhline(1.6, ls=":", c="k", lw=1)
    a.text(0.6, 1.7, "real HGG median 1.6", fontsize=7)
    for r in real:
        if r["lesions"]["ratio"] is not None:
            a.scatter([1], [r["lesions"]["ratio"]], marker="*", c="k", s=160)
    a.set(yscale="log", ylabel="oedema / core", title="(b) oedema / core (star: real, at glioblastoma)")
    a = ax[0, 2]
    for r in phantoms:
        t = _texture(r)
        if t:
            a.scatter(*t, c=COLOURS[r["label"]], s=18, alpha=0.7)
    for r in real:
        t = _texture(r)
        if t:
            a.scatter(*t, marker="*", c="k", s=160)
            a.annotate(r["name"], t, fontsize=7)
    a.set(xscale="log", yscale="log", xlabel="gradient energy (z^2)", ylabel="local variance (z^2)",
          title="(c) healthy-tissue texture, 2 mm grid")
    a = ax[1, 0]
    edges = np.linspace(-4, 8, 61)
    centres = (edges[:-1] + edges[1:]) / 2
    for tissue, style in (("wm", "-"), ("oedema", "--")):
        pooled = [r["histograms"].get("FLAIR", {}).get(tissue) for r in phantoms]
        pooled = [h for h in pooled if h]
        if pooled:
            a.plot(centres, np.mean(pooled, axis=0), style, c="tab:red", label=f"phantoms {tissue}")
        for r in real:
            h = r["histograms"].get("FLAIR", {}).get(tissue)
            if h:
                a.plot(centres, h, style, c="k", alpha=0.7, label=f"{r['name']} {tissue}")
    a.set(xlabel="FLAIR z-score", ylabel="density", title="(d) FLAIR: white-like healthy tissue, oedema")
    a.legend(fontsize=6)
    a = ax[1, 1]
    if all("vector" in r for r in rows) and phantoms:
        v = np.array([r["vector"] for r in phantoms])
        mean = v.mean(axis=0)
        _, _, vt = np.linalg.svd(v - mean, full_matrices=False)
        for r in phantoms:
            p = (r["vector"] - mean) @ vt[:2].T
            a.scatter(*p, c=COLOURS[r["label"]], s=18, alpha=0.7)
        for r in real:
            p = (r["vector"] - mean) @ vt[:2].T
            a.scatter(*p, marker="*", c="k", s=160)
            a.annotate(f"{r['name']} -> {r['predicted']}", p, fontsize=7)
        for k, c in COLOURS.items():
            a.scatter([], [], c=c, label=k)
        a.legend(fontsize=6)
    a.set(xlabel="PC 1", ylabel="PC 2", title="(e) encoder pooled features (phantom PCs)")
    a = ax[1, 2]
    for i, k in enumerate(labels):
        d = [r["surface_mm"] for r in phantoms if r["label"] == k and r["surface_mm"] is not None]
        a.scatter(np.full(len(d), i) + np.linspace(-0.15, 0.15, len(d)), d, c=COLOURS[k], s=18)
    for r in real:
        if r["surface_mm"] is not None:
            a.scatter([0], [r["surface_mm"]], marker="*", c="k", s=160)
    a.set_xticks(range(len(labels)), [k.replace("_", "\n") for k in labels])
    a.set(ylabel="mm", title="(f) lesion centre to brain surface")
    fig.suptitle("Realism report: phantoms (colour, by class) against real studies (black stars)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=70)
    os.replace(tmp, path)
    plt.close(fig)
