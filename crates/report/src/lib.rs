//! flowmeter-report
