using System.ComponentModel;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// A real <c>redis-server</c> on a free loopback port, without persistence, that tests can
/// stop, start again on the same port, and freeze (SIGSTOP) to play a stalled server.
/// </summary>
internal sealed class RedisServer : IAsyncDisposable
{
    private const int SigCont = 18;
    private const int SigStop = 19;
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(15);

    // Between readiness probes only; the deadline above is what bounds the wait.
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromMilliseconds(20);

    private readonly StringBuilder _output = new();
    private Process? _process;
    private volatile bool _stopping;

    private RedisServer(int port)
    {
        Port = port;
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public bool IsRunning => _process is { HasExited: false };

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(LoopbackPorts.Reserve());
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Starts the server (again) on the same port and returns once it answers as this process.</summary>
    public async Task StartAgainAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"redis-server is already running on port {Port}.");
        }

        _process?.Dispose();
        var info = new ProcessStartInfo("redis-server")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", string.Empty, "--appendonly", "no" })
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Exited += (_, _) => ReportUnexpectedExit(process);
        _stopping = false;
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            process.Dispose();
            throw new InvalidOperationException("redis-server was not found on PATH. Run tests/run.sh, which installs it (apt-get install redis-server).", ex);
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        await WaitUntilAnsweringAsync(process);
    }

    /// <summary>Kills the server and waits for it to be gone.</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } process)
        {
            _stopping = true;
            process.Kill();
            await process.WaitForExitAsync();
        }
    }

    /// <summary>Freezes the server (SIGSTOP): connections stay open, nothing is answered.</summary>
    public void Pause() => Signal(SigStop);

    /// <summary>Thaws a paused server (SIGCONT).</summary>
    public void Resume() => Signal(SigCont);

    /// <summary>Connects a multiplexer as the gateway would: never failing on connect, short timeouts.</summary>
    /// <summary>A multiplexer with the gateway's own connection options (fail fast while disconnected).</summary>
    /// <param name="libraryTimeout">
    /// Overrides the client library's own command timeout (by default derived from the store
    /// budget), for tests that must tell the store's budget apart from the library's timeout.
    /// </param>
    public Task<ConnectionMultiplexer> ConnectAsync(Gateway.Grants.GrantsOptions? grants = null, TimeSpan? libraryTimeout = null)
    {
        var options = Gateway.Grants.GrantsServiceCollectionExtensions.ConnectionOptions(ConnectionString, grants ?? new Gateway.Grants.GrantsOptions());
        if (libraryTimeout is { } timeout)
        {
            options.SyncTimeout = (int)timeout.TotalMilliseconds;
            options.AsyncTimeout = (int)timeout.TotalMilliseconds;
        }

        // Notice a dead connection sooner than the production default: tests stop servers on purpose.
        options.KeepAlive = 1;
        return ConnectionMultiplexer.ConnectAsync(options);
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            _stopping = true;
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }
    }


    private async Task WaitUntilAnsweringAsync(Process process)
    {
        var deadline = Stopwatch.StartNew();
        Exception? last = null;
        while (deadline.Elapsed < StartDeadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"redis-server exited with code {process.ExitCode} while starting on port {Port}:\n{Output()}");
            }

            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                if (await AnswersAsThisProcessAsync(process, timeout.Token))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
            {
                last = ex;
            }

            await Task.Delay(ProbeInterval);
        }

        throw new TimeoutException($"redis-server did not answer INFO on port {Port} within {StartDeadline}:\n{Output()}", last);
    }

    /// <summary>
    /// True once the server on the port answers, and it is this process: a server that another
    /// test left on the port would otherwise pass for ours.
    /// </summary>
    private async Task<bool> AnswersAsThisProcessAsync(Process process, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port, cancellationToken);
        var stream = client.GetStream();
        await stream.WriteAsync("INFO server\r\n"u8.ToArray(), cancellationToken);
        var reply = new StringBuilder();
        var buffer = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            reply.Append(Encoding.ASCII.GetString(buffer, 0, read));
            var text = reply.ToString();
            if (text.StartsWith('-'))
            {
                return false; // e.g. LOADING: not ready yet
            }

            var at = text.IndexOf("process_id:", StringComparison.Ordinal);
            var end = at < 0 ? -1 : text.IndexOf('\r', at);
            if (end > 0)
            {
                var pid = int.Parse(text.AsSpan(at + "process_id:".Length, end - at - "process_id:".Length), System.Globalization.CultureInfo.InvariantCulture);
                return pid == process.Id
                    ? true
                    : throw new InvalidOperationException($"Port {Port} is held by another redis-server (pid {pid}), not the one started here (pid {process.Id}).");
            }
        }

        return false;
    }

    private void Signal(int signal)
    {
        if (_process is not { HasExited: false } process)
        {
            throw new InvalidOperationException($"redis-server on port {Port} is not running.");
        }

        if (Kill(process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}.");
        }
    }

    /// <summary>
    /// A server that dies under a running test class takes the class's later tests with it;
    /// say so on the test log, with the server's own output, instead of leaving only timeouts.
    /// </summary>
    private void ReportUnexpectedExit(Process process)
    {
        if (!_stopping)
        {
            Console.Error.WriteLine($"redis-server (pid {process.Id}, port {Port}) exited unexpectedly with code {process.ExitCode}:\n{Output()}");
        }
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    private string Output()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }

    // DllImport rather than LibraryImport: the generated marshalling code needs unsafe blocks.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}

/// <summary>One real redis-server for a test class; tests keep apart by key prefix.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    private RedisServer? _server;

    internal RedisServer Server => _server ?? throw new InvalidOperationException("The Redis fixture has not started.");

    /// <summary>A key prefix no other test uses, so tests never see each other's keys or messages.</summary>
    public static string NewKeyPrefix() => $"t{Guid.NewGuid():N}:";

    public Task<ConnectionMultiplexer> ConnectAsync() => Server.ConnectAsync();

    public async Task InitializeAsync() => _server = await RedisServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

/// <summary>Writes a component's log to the test's output, so a failing Redis test shows what the store saw.</summary>
internal sealed class TestOutputLogger<T>(ITestOutputHelper output) : ILogger<T>
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        try
        {
            output.WriteLine($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {logLevel} {eventId.Id}: {formatter(state, exception)}{(exception is null ? string.Empty : " | " + exception.GetType().Name + ": " + exception.Message)}");
        }
        catch (InvalidOperationException)
        {
            // The test has finished; its output is closed.
        }
    }
}
