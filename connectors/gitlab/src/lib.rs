//! flowmeter-gitlab
