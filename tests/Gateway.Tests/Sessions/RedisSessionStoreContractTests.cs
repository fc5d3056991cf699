using Gateway.Grants;
using Gateway.Sessions;
using Gateway.Tests.Grants;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Tests.Sessions;

/// <summary>The session store contract against a real redis-server, on the real clock (Basic keys expire by Redis TTLs).</summary>
public sealed class RedisSessionStoreContractTests(RedisFixture redis) : SessionStoreContract, IClassFixture<RedisFixture>
{
    private readonly string _prefix = RedisFixture.NewKeyPrefix();
    private readonly List<ConnectionMultiplexer> _connections = [];

    private protected override ITestClock Clock { get; } = new RealClock();

    public override async Task DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.CloseAsync();
            connection.Dispose();
        }

        await base.DisposeAsync();
    }

    private protected override async Task<ISessionStore> CreateStoreAsync()
    {
        var connection = await redis.ConnectAsync();
        _connections.Add(connection);
        return new RedisSessionStore(
            connection,
            Options.Create(new RedisOptions { Configuration = redis.Server.ConnectionString, KeyPrefix = _prefix }),
            Options.Create(new GrantsOptions { StoreTimeout = TimeSpan.FromSeconds(2) }),
            TimeProvider.System,
            NullLogger<RedisSessionStore>.Instance);
    }

    private protected override Task<ISessionStore> CreatePeerAsync() => CreateStoreAsync();

    private sealed class RealClock : ITestClock
    {
        public DateTimeOffset Now => TimeProvider.System.GetUtcNow();

        public Task PassAsync(TimeSpan duration) => Task.Delay(duration);
    }
}
