namespace Gateway.SupportSessions;

internal static class SupportSessionsApplicationBuilderExtensions
{
    /// <summary>The support pipeline (<see cref="SupportSessionsMiddleware"/>) as a step of YARP's proxy pipeline.</summary>
    public static IReverseProxyApplicationBuilder UseSupportSessions(this IReverseProxyApplicationBuilder proxy)
    {
        proxy.UseMiddleware<SupportSessionsMiddleware>();
        return proxy;
    }
}
