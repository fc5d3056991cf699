using Gateway.Grants;
using Gateway.Problems;
using Microsoft.AspNetCore.Diagnostics;

namespace Gateway.Hosting;

/// <summary>
/// The last word on anything that escaped a handler: a problem document with a stable code and the
/// trace id, never exception text or a stack trace in the answer. The exception is logged once,
/// here; a grant store that cannot answer is expected and says so (503), and a client that went
/// away gets nothing.
/// </summary>
internal sealed partial class GatewayExceptionHandler(ILogger<GatewayExceptionHandler> logger, TimeProvider time) : IExceptionHandler
{
    private readonly LogRateLimit _unexpected = new(time);

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (context.RequestAborted.IsCancellationRequested)
        {
            LogClientGone(logger, context.Request.Method, exception.GetType().Name);
            return true;
        }

        var problem = exception switch
        {
            GrantStoreUnavailableException => ProblemCode.GrantStoreUnavailable,
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => ProblemCode.RequestTooLarge,
            BadHttpRequestException => ProblemCode.InvalidRequest,
            _ => ProblemCode.InternalError,
        };

        if (problem == ProblemCode.InternalError)
        {
            // With the stack trace (a bug to fix), but at most one a period: a request that
            // triggers it could be sent in a loop.
            if (_unexpected.ShouldLog(out var suppressed))
            {
                LogUnexpected(logger, context.Request.Method, context.Request.Path.Value ?? "", suppressed, exception);
            }
        }
        else
        {
            LogHandled(logger, problem.Value, exception.GetType().Name);
        }

        await GatewayProblem.Create(problem).WriteAsync(context);
        return true;
    }

    [LoggerMessage(EventId = 1050, Level = LogLevel.Error, Message = "Unexpected error handling {Method} {Path}; answered 500 gateway.internal_error ({Suppressed} more since the last such line)")]
    private static partial void LogUnexpected(ILogger logger, string method, string path, long suppressed, Exception exception);

    [LoggerMessage(EventId = 1051, Level = LogLevel.Debug, Message = "Answered {Code} for a {ExceptionType}")]
    private static partial void LogHandled(ILogger logger, string code, string exceptionType);

    [LoggerMessage(EventId = 1052, Level = LogLevel.Debug, Message = "{Method} request ended by the client ({ExceptionType})")]
    private static partial void LogClientGone(ILogger logger, string method, string exceptionType);
}
