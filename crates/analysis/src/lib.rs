//! flowmeter-analysis
