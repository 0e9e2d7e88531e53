public enum KVCHDF5Placeholder {}
