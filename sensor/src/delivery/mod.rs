//! Delivery placeholder
