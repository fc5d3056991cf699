using Gateway.Hosting;

return await GatewayProgram.RunAsync(args);
