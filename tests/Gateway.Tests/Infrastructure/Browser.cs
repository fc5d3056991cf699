using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// A real headless Chromium (Debian's <c>chromium</c> and <c>chromium-driver</c>, installed by
/// <c>tests/run.sh</c>) driven through Selenium: one browser process per test class
/// (<c>IClassFixture&lt;Browser&gt;</c>), reset between tests with <see cref="ResetAsync"/>.
/// <c>acme.localhost</c> and <c>globex.localhost</c> resolve to 127.0.0.1, so
/// <c>http://acme.localhost:PORT</c> reaches a test gateway with the right Host header.
/// With <c>GATEWAY_SCREENSHOTS=DIR</c> (relative to the repository), <see cref="Screenshot"/> saves
/// PNGs there; otherwise it does nothing, so normal runs write nothing into the repository.
/// </summary>
public sealed class Browser : IDisposable
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public const string DriverDirectory = "/usr/bin";

    private readonly string _profile = Directory.CreateTempSubdirectory("gateway-chromium-").FullName;
    private readonly ChromeDriver _driver;

    public Browser()
    {
        var service = ChromeDriverService.CreateDefaultService(DriverDirectory, "chromedriver");
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = ChromiumPath };
        options.AddArguments(
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            $"--user-data-dir={_profile}",
            "--host-resolver-rules=MAP acme.localhost 127.0.0.1, MAP globex.localhost 127.0.0.1",
            "--window-size=1280,860");
        _driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        _driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(30);
    }

    public IWebDriver Driver => _driver;

    /// <summary>Where screenshots go, or null when this run takes none.</summary>
    public static string? ScreenshotDirectory =>
        Environment.GetEnvironmentVariable("GATEWAY_SCREENSHOTS") is { Length: > 0 } dir ? Path.GetFullPath(Path.Combine(RepoPaths.Root, dir)) : null;

    public static string Url(int port, string host, string pathAndQuery) => $"http://{host}:{port}{pathAndQuery}";

    /// <summary>Forgets every cookie of every site and leaves the page, as a fresh browser would be; restores the window size.</summary>
    public Task ResetAsync()
    {
        _driver.ExecuteCdpCommand("Network.clearBrowserCookies", []);
        _driver.Navigate().GoToUrl("about:blank");
        _driver.Manage().Window.Size = new System.Drawing.Size(1280, 860);
        return Task.CompletedTask;
    }

    public void GoTo(string url) => _driver.Navigate().GoToUrl(url);

    /// <summary>Waits until <paramref name="condition"/> holds (page loads and redirects are asynchronous to the driver).</summary>
    public T WaitFor<T>(Func<IWebDriver, T> condition, TimeSpan? timeout = null)
    {
        var wait = new WebDriverWait(_driver, timeout ?? TimeSpan.FromSeconds(15));
        // While a page is replaced, elements vanish or go stale: keep waiting.
        wait.IgnoreExceptionTypes(typeof(NoSuchElementException), typeof(StaleElementReferenceException));
        return wait.Until(condition);
    }

    /// <summary>Waits until <paramref name="element"/> (e.g. the old page's <c>html</c>) has left the document: a new page replaced it.</summary>
    public void WaitUntilReplaced(IWebElement element) => WaitFor<bool>(driver =>
    {
        try
        {
            _ = element.Enabled;
            return false;
        }
        catch (StaleElementReferenceException)
        {
            return true;
        }
        catch (WebDriverException ex) when (ex.Message.Contains("does not belong to the document", StringComparison.Ordinal))
        {
            return true; // Chromium's way of saying "stale" while the old document is torn down
        }
    });

    /// <summary>The text of the page's body.</summary>
    public string BodyText => _driver.FindElement(By.TagName("body")).Text;

    /// <summary>The value of a cookie of the current page's site, or null.</summary>
    public string? Cookie(string name) => _driver.Manage().Cookies.GetCookieNamed(name)?.Value;

    /// <summary>
    /// Saves the whole page as DIR/<paramref name="name"/>.png when screenshots are asked for, at the
    /// window's width or <paramref name="width"/> CSS pixels (a phone: 390), as tall as the page.
    /// </summary>
    public void Screenshot(string name, int? width = null)
    {
        if (ScreenshotDirectory is not { } directory)
        {
            return;
        }

        Directory.CreateDirectory(directory);
        var viewportWidth = width ?? 1280;
        var mobile = viewportWidth < 600;
        Emulate(viewportWidth, 800, mobile);
        var height = Convert.ToInt32(_driver.ExecuteScript("return Math.ceil(document.documentElement.scrollHeight);"), System.Globalization.CultureInfo.InvariantCulture);
        Emulate(viewportWidth, Math.Clamp(height, 480, 2400), mobile);
        _driver.GetScreenshot().SaveAsFile(Path.Combine(directory, name + ".png"));
        _driver.ExecuteCdpCommand("Emulation.clearDeviceMetricsOverride", []);
    }

    private void Emulate(int width, int height, bool mobile) =>
        _driver.ExecuteCdpCommand("Emulation.setDeviceMetricsOverride", new Dictionary<string, object?>
        {
            ["width"] = width,
            ["height"] = height,
            ["deviceScaleFactor"] = 1,
            ["mobile"] = mobile,
        });

    public void Dispose()
    {
        _driver.Quit();
        _driver.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // Chromium may still be writing its profile while it exits; /tmp is cleaned by the OS.
        }
    }
}
