"""Reports: one result model (report.model.Report), rendered as text, JSON, HTML and JUnit XML."""
