import Foundation
import PackagePlugin

/// Compiles the web UI's files (`Sources/Admin/Web/*`: index.html, app.css, the scripts,
/// the icon) into the Admin module: one build command runs `WebEmbedder` over them and
/// adds the `WebFiles.swift` it writes to the target's sources. The files themselves are
/// excluded from the target in Package.swift (the whole `Web` folder), so they are neither
/// sources nor resources, and the binary stays one file. Every regular file in the folder
/// is embedded; a change to any of them reruns the command.
@main
struct EmbedWebFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        // The target's folder by its own `directoryURL` needs tools version 6.1; the package
        // says 6.0, whose package `directoryURL` and the target's path under it serve alike.
        let folder = context.package.directoryURL.appending(path: "Sources/\(module.name)/Web")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { !$0.hasPrefix(".") }
            .sorted()
            .map { folder.appending(path: $0) }
            .filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
        let output = context.pluginWorkDirectoryURL.appending(path: "WebFiles.swift")
        return [
            .buildCommand(
                displayName: "Embedding the web UI's \(files.count) files",
                executable: try context.tool(named: "WebEmbedder").url,
                arguments: [output.path] + files.map(\.path),
                inputFiles: files,
                outputFiles: [output]
            ),
        ]
    }
}
