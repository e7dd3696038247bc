"""Reports: plots (matplotlib + mplhep) embedded in self-contained HTML pages."""
