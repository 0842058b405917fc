"""The absorber a data set records travels with it into every path that featurises."""

import numpy as np
import pytest
from ase import Atoms

from wacsf import WACSFTransformer
from xanesnet_sk import load_dataset, load_npz, make_xanesnet_pipeline, save_dataset
from xanesnet_sk.io import write_spectrum

SMALL = dict(n_g2=8, n_g4=16)


def _dirs(tmp_path):
    xyz, xanes = tmp_path / "xyz", tmp_path / "xanes"
    xyz.mkdir()
    xanes.mkdir()
    rng = np.random.default_rng(3)
    energies = np.linspace(-15, 60, 226)
    for k in range(6):
        positions = np.vstack([[0, 0, 0], [1.9, 0, 0], [0, 2.0 + 0.05 * k, 0],
                               rng.normal(scale=0.3, size=(2, 3)) + [0, 0, 2.1]])
        body = "\n".join(f"{z} {x:.5f} {y:.5f} {w:.5f}" for z, (x, y, w)
                         in zip([8, 26, 8, 6, 1], positions))
        (xyz / f"m{k}.xyz").write_text(f"5\n\n{body}\n")
        write_spectrum(xanes / f"m{k}.txt", energies, 1.0 + 0.01 * k * energies)
    return xyz, xanes


def test_info_absorber_is_used_by_default():
    atoms = Atoms("OFeO", positions=[[0, 0, 0], [1.9, 0, 0], [1.9, 2.0, 0]])
    at_fe = WACSFTransformer(absorber=1, **SMALL).fit_transform([atoms])
    at_o = WACSFTransformer(absorber=0, **SMALL).fit_transform([atoms])
    assert not np.allclose(at_fe, at_o)
    np.testing.assert_array_equal(WACSFTransformer(**SMALL).fit_transform([atoms]), at_o)
    atoms.info["absorber"] = 1
    np.testing.assert_array_equal(WACSFTransformer(**SMALL).fit_transform([atoms]), at_fe)
    # an explicit index still wins
    np.testing.assert_array_equal(WACSFTransformer(absorber=0, **SMALL).fit_transform([atoms]),
                                  at_o)
    atoms.info["absorber"] = "Fe"
    with pytest.raises(ValueError, match=r"structure 0: atoms.info\['absorber'\] must be an "
                                         r"atom index, got 'Fe'"):
        WACSFTransformer(**SMALL).fit_transform([atoms])


def test_load_dataset_absorber_reaches_the_pipeline_and_npz(tmp_path):
    xyz, xanes = _dirs(tmp_path)
    ds = load_dataset(xyz, xanes, absorber=1)
    pipe = make_xanesnet_pipeline(random_state=0, max_epochs=1, hidden_sizes=(8,),
                                  wacsf_params=SMALL).fit(ds.structures, ds.spectra)
    seen = pipe.named_steps["wacsf"].transform(ds.structures)
    np.testing.assert_array_equal(
        seen, WACSFTransformer(absorber=1, **SMALL).fit_transform(ds.structures))
    save_dataset(tmp_path / "d.npz", ds)
    back = load_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(pipe.named_steps["wacsf"].transform(back.structures), seen)
    np.testing.assert_allclose(pipe.predict(back.structures), pipe.predict(ds.structures))
