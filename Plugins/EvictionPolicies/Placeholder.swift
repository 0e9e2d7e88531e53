public enum EvictionPoliciesPlaceholder {}
