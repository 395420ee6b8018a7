/// The version reported in `User-Agent` and `/openapi.json`.
public enum EaselVersion {
    public static let string = "0.1.0"
}
