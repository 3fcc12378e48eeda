"""Reports: charts, the self-contained HTML report, and run comparison."""
