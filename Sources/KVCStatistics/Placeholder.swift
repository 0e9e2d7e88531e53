public enum KVCStatisticsPlaceholder {}
