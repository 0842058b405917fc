"""
Error bars from a deep ensemble
===============================

``make_xanesnet_pipeline(n_ensemble=5)`` trains five nets that differ only in
their random seed and predicts their mean with a standard deviation:
``predict(X, return_std=True)``.  The spread is calibrated on a 10 % hold-out
so that about 95 % of held-out points fall within ±2 std.  Here on synthetic
complexes (few epochs, to keep the page fast): a spectrum with its band, the
calibration curve, and whether larger error bars go with larger errors.
"""

# %%
from sklearn.model_selection import train_test_split

from xanesnet_sk import delta_mu, make_synthetic_xanes, make_xanesnet_pipeline
from xanesnet_sk.ensemble import calibration_curve, coverage
from xanesnet_sk.plots import plot_calibration, plot_spectrum, plot_std_vs_error

data = make_synthetic_xanes(n_samples=240, random_state=0)
train_s, test_s, train_y, test_y = train_test_split(
    data.structures, data.spectra, test_size=40, random_state=0)

# %%
# Five members, trained one after the other in this process (``n_jobs=1``;
# by default they train in parallel processes, one per core).  40 epochs
# instead of the default keep this example under a minute.
model = make_xanesnet_pipeline(random_state=0, n_ensemble=5, n_jobs=1, max_epochs=40,
                               n_threads=1)
model.fit(train_s, train_y)
mean, std = model.predict(test_s, return_std=True)
print(mean.shape, std.shape)
print(f"held-out points within ±2 std: {coverage(test_y, mean, std):.1%}")

# %%
# The held-out spectrum with the largest error bar, with its ±2 std band.
worst = int(std.mean(axis=1).argmax())
fig_band = plot_spectrum(data.energies, mean[worst], target=test_y[worst], std=std[worst],
                         title="largest mean std among the held-out spectra")

# %%
# Calibration: for each nominal coverage (a Gaussian interval of the
# predicted std), the share of held-out points inside it.  On the diagonal
# the error bars mean what they say; above it they are wider than needed,
# below it too narrow.  The calibration factor is fitted for ±2 std only,
# so the curve can bend away from the diagonal at other levels.
expected, observed = calibration_curve(test_y, mean, std)
fig_calibration = plot_calibration(expected, observed)

# %%
# Larger error bars should flag the worse predictions: each spectrum's mean
# std against its Δμ.
fig_rank = plot_std_vs_error(std.mean(axis=1), delta_mu(test_y, mean))
