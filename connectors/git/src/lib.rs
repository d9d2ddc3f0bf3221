//! flowmeter-git
