"""Neutrino-telescope reconstruction: simulate muon tracks in a water-Cherenkov detector and
reconstruct their direction with a line fit, a Pandel likelihood fit, or a hybrid GNN.

=================  ===========================================================================
module             job
=================  ===========================================================================
``geometry``       DOM positions: TRIDENT-like string layouts, CSV load/save
``medium``         sea-water optics (refractive indices, absorption, scattering) and constants
``track``          track geometry: direct Cherenkov arrival time, emission point, angles
``simulate``       muons, light yield, photon transport, noise -> hits + truth (Parquet)
``pandel``         the Gaussian-convolved Pandel time-residual density (SPE and MPE)
``linefit``        hit cleaning and the analytic line-fit seed (one event or many, padded)
``likelihood``     the likelihood fit (iminuit, restarts)
``batchfit``       the same likelihood for many events at once (Levenberg-Marquardt in torch)
``gnn``            the hybrid EdgeConv GNN (per-DOM emission points + line fit) and a
                   direct-regression head
``metrics``        angular error, resolution in energy bins
=================  ===========================================================================
"""
