import Foundation

/// Generated images on disk: `<dataDir>/images/<job id>/<index>.<ext>` (png, jpeg or webp, from the content type). A file appears whole or not at all (temp file,
/// fsync, rename, fsync of the folder), and is written before its job is recorded as succeeded.
public struct ImageFiles: Sendable {
    public let dataDir: URL

    public init(dataDir: URL) { self.dataDir = dataDir }

    /// The path relative to the data dir, as stored in `JobImage.file`.
    public static func relativePath(jobID: String, index: Int, ext: String = "png") -> String {
        "images/\(jobID)/\(index).\(ext)"
    }

    /// The file extension for an image's content type (`image/jpeg` → `jpeg`).
    public static func fileExtension(contentType: String) -> String {
        contentType.hasPrefix("image/") ? String(contentType.dropFirst(6)) : "bin"
    }

    /// Where the HTTP route reads a stored image (`JobImage.file`) from.
    public func url(file: String) -> URL { dataDir.appendingPathComponent(file) }

    public func write(_ bytes: Data, jobID: String, index: Int, ext: String = "png") throws -> String {
        let folder = dataDir.appendingPathComponent("images/\(jobID)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let final = folder.appendingPathComponent("\(index).\(ext)")
        let temp = folder.appendingPathComponent(".\(index).\(ext).tmp-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXError(errno) }
        do {
            try bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw POSIXError(errno)
                    }
                    offset += n
                }
            }
            guard fsync(fd) == 0 else { throw POSIXError(errno) }
        } catch {
            close(fd)
            unlink(temp.path)
            throw error
        }
        close(fd)
        guard rename(temp.path, final.path) == 0 else {
            let e = errno
            unlink(temp.path)
            throw POSIXError(e)
        }
        // The rename itself is durable only once the folder's entry is on disk.
        let dir = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            fsync(dir)
            close(dir)
        }
        return Self.relativePath(jobID: jobID, index: index, ext: ext)
    }

    public func remove(jobID: String) {
        try? FileManager.default.removeItem(at: dataDir.appendingPathComponent("images/\(jobID)"))
    }
}

extension POSIXError {
    init(_ code: Int32) { self.init(POSIXErrorCode(rawValue: code) ?? .EIO) }
}
