//! flowmeter-github
